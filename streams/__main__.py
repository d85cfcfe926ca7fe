"""``python -m streams`` is the ``miroir`` command."""

from streams.cli import main

raise SystemExit(main())
