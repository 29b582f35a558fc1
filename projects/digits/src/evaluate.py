"""Evaluate the trained model on the held-out split; metrics.json carries `accuracy` for the gate."""

from __future__ import annotations

import json

import joblib
from common import OUT, load_config, split, write_metrics
from sklearn.metrics import accuracy_score, classification_report, f1_score


def main() -> None:
    config = load_config()
    _, x_test, _, y_test = split(config)
    model = joblib.load(OUT / "model.joblib")
    predicted = model.predict(x_test)
    previous = json.loads((OUT / "metrics.json").read_text()) if (OUT / "metrics.json").exists() else {}
    metrics = {
        **previous,
        "accuracy": float(accuracy_score(y_test, predicted)),
        "f1_macro": float(f1_score(y_test, predicted, average="macro")),
        "test_samples": len(y_test),
    }
    write_metrics(metrics)
    (OUT / "classification_report.txt").write_text(classification_report(y_test, predicted))
    print(f"evaluated on {len(y_test)} images: accuracy {metrics['accuracy']:.4f}, f1 {metrics['f1_macro']:.4f}")


if __name__ == "__main__":
    main()
