"""Tools around the pipeline: the demo, the simulator and scenarios, offline replay and
evaluation, and the launchers of the brokers they need."""
