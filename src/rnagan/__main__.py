"""``python -m rnagan`` (and ``torchrun -m rnagan``) runs the CLI."""

from rnagan.cli import main

main()
