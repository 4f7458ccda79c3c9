"""``python -m shopstorm.demoshop``: run the demo shop from the command line (see :mod:`.cli`)."""

from shopstorm.demoshop.cli import main

raise SystemExit(main())
