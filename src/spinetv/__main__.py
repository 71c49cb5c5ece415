"""``python -m spinetv`` runs the command line."""

import sys

from spinetv.cli import main

sys.exit(main())
