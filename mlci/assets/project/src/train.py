"""Replace with real training. Write outputs to $MLCI_OUTPUT_DIR and metrics to metrics.json."""

import json
import os
from pathlib import Path

import yaml

config = yaml.safe_load(Path(os.environ.get("MLCI_CONFIG", "config.yaml")).read_text())
out = Path(os.environ.get("MLCI_OUTPUT_DIR", "out"))
out.mkdir(parents=True, exist_ok=True)
print(f"training with learning_rate={config['learning_rate']} (attempt {os.environ.get('MLCI_ATTEMPT', '1')})")
(out / "metrics.json").write_text(json.dumps({"accuracy": 1.0}) + "\n")
