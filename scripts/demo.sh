#!/usr/bin/env bash
# The main job: set everything up, then train, evaluate and publish the digits example locally.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/mlci validate
.venv/bin/mlci run digits "$@"
.venv/bin/mlci status digits --limit 1
