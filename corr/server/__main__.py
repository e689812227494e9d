"""``python -m corr.server ARGS``: ``corr server ARGS`` without the launcher."""

import sys

from ..cli import main

sys.exit(main(["server", *sys.argv[1:]]))
