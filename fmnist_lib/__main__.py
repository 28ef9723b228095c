"""Entry point for `python -m fmnist_lib`."""

import sys

from fmnist_lib.cli import main

sys.exit(main())
