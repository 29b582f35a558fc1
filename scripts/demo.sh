#!/usr/bin/env bash
# The main job: set everything up, then train, evaluate and publish the digits example locally.
# Long steps (base image, image build) print one line per phase and name the log holding their full
# output; `./scripts/demo.sh -v` passes -v to `mlci run` to show every build step instead.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/mlci validate
.venv/bin/mlci run digits "$@"
.venv/bin/mlci status digits --limit 1
