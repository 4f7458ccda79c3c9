"""``python -m shopstorm`` is the ``shopstorm`` command."""

import sys

from shopstorm.cli import main

sys.exit(main())
