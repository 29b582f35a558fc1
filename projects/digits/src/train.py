"""Train a classifier on the digits data set and save it to $MLCI_OUTPUT_DIR/model.joblib."""

from __future__ import annotations

import os
import time

import joblib
from common import OUT, load_config, split, write_metrics
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC


def build_model(model_cfg: dict, attempt: int):
    c = model_cfg["C"] * model_cfg.get("retrain_C_factor", 1.0) ** (attempt - 1)
    if model_cfg["kind"] == "logistic":
        return LogisticRegression(C=c, max_iter=2000)
    return SVC(C=c, gamma=model_cfg["gamma"])


def main() -> None:
    config = load_config()
    attempt = int(os.environ.get("MLCI_ATTEMPT", "1"))
    x_train, _, y_train, _ = split(config)
    model = build_model(config["model"], attempt)
    started = time.perf_counter()
    model.fit(x_train, y_train)
    seconds = time.perf_counter() - started
    OUT.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, OUT / "model.joblib")
    train_accuracy = float(model.score(x_train, y_train))
    write_metrics({"train_accuracy": train_accuracy, "train_seconds": seconds})
    print(
        f"trained {type(model).__name__} on {len(x_train)} images in {seconds:.2f}s; train accuracy {train_accuracy:.4f}"
    )


if __name__ == "__main__":
    main()
