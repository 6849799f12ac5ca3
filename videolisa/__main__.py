"""``python -m videolisa``: see :mod:`videolisa.cli`."""

import sys

from videolisa.cli import main

sys.exit(main())
