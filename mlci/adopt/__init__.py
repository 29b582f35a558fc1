"""Adopting mlci in a repository: `mlci init` and `mlci new`."""
