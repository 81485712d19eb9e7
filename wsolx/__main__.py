"""``python -m wsolx ...`` and ``torchrun --nproc_per_node=N -m wsolx train ...``."""

import sys

from wsolx.cli import main

if __name__ == "__main__":
    sys.exit(main())
