"""Where the persistent per-host cache lives (datasets, hub downloads), mounted at /mlci/cache."""

from __future__ import annotations

import os
from pathlib import Path


def cache_path() -> Path:
    """MLCI_CACHE_DIR, else $XDG_CACHE_HOME/mlci, else ~/.cache/mlci (not created)."""
    configured = os.environ.get("MLCI_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlci"


def ensure_cache_dir() -> Path:
    path = cache_path()
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()
