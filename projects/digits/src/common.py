"""Shared by train and evaluate: the config, the data split and the output paths."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

OUT = Path(os.environ.get("MLCI_OUTPUT_DIR", "out"))


def load_config() -> dict:
    path = Path(os.environ.get("MLCI_CONFIG", "config.yaml"))
    return yaml.safe_load(path.read_text())


def split(config: dict):
    """The digits data set ships inside scikit-learn: nothing is downloaded."""
    data = load_digits()
    return train_test_split(
        data.data / 16.0,
        data.target,
        test_size=config["data"]["test_size"],
        random_state=config["data"]["seed"],
        stratify=data.target,
    )


def write_metrics(metrics: dict) -> None:
    """The container contract: a flat JSON object of numbers; the gate reads the last one written."""
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = OUT / "metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    tmp.replace(OUT / "metrics.json")
