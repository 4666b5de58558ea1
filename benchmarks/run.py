"""Run the cvxnn solver benchmark (see benchmarks/README.md and ``python benchmarks/run.py --help``)."""

import sys

from cvxnn_bench import main

if __name__ == "__main__":
    sys.exit(main())
