"""The Faust runtime: the agent and everything that talks to Kafka around the pure core.

The Faust app itself is ``streams.app.app``; ``streams.runtime.worker.run_worker`` starts it.
"""
