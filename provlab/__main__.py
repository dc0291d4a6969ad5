"""`python -m provlab` runs the provlab command."""

from provlab.cli import main

main()
