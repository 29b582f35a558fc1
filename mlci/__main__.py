"""`python -m mlci` — same as the `mlci` console script."""

from mlci.cli import run

run()
