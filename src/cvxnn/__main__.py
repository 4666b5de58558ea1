"""``python -m cvxnn``: the same command line as the ``cvxnn`` console script."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
