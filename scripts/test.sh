#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian/Ubuntu machine (as root), then run the
# linters and the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}
echo "==> ruff" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null
echo "==> shellcheck" >&2
shellcheck scripts/*.sh .ci/run projects/*/run.sh tests/workflows/actions/*/*.sh
echo "==> codenarc (Jenkins rule set)" >&2
scripts/codenarc.sh
echo "==> mlci validate" >&2
.venv/bin/mlci validate
echo "==> pytest" >&2
exec .venv/bin/pytest "$@"
