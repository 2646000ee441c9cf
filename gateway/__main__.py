"""`python -m gateway` runs the wellgate CLI."""

from gateway.cli import main

main()
