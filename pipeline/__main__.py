"""``python -m pipeline``: the command line lives in :mod:`pipeline.run.cli`."""

import sys

from .run.cli import main

if __name__ == "__main__":
    sys.exit(main())
