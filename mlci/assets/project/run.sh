#!/bin/sh
# The train stage. mlci passes MLCI_JOB_ID, MLCI_ATTEMPT, MLCI_CONFIG, MLCI_OUTPUT_DIR, MLCI_CACHE_DIR.
set -eu
exec python src/train.py
