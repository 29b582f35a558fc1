#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine (as root) for mlci: the Docker engine from the
# distribution (installed if absent, started if stopped), a virtualenv with mlci, and the
# offline base image. `--test` adds what the test suite needs. Safe to run again.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
WITH_TESTS=0
[[ "${1:-}" == "--test" ]] && WITH_TESTS=1

# bold on a terminal; plain lines in Jenkins' console, pipes and files
if [[ -t 2 && "${TERM:-dumb}" != dumb && -z "${JENKINS_URL:-}" ]]; then
  log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
else
  log() { printf '==> %s\n' "$*" >&2; }
fi

# pip's output goes to a log that is shown only when it fails
pip_install() {
  if ! .venv/bin/pip install -q -e "$1" >.venv/pip.log 2>&1; then
    tail -n 40 .venv/pip.log >&2
    echo "pip install failed; full log: $REPO/.venv/pip.log" >&2
    exit 1
  fi
}

if [[ $(id -u) -ne 0 ]]; then
  echo "setup.sh installs packages and starts the Docker engine: run it as root (sudo)." >&2
  exit 2
fi

packages=(debootstrap git ca-certificates)
command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 || packages+=(docker.io)
command -v dockerd >/dev/null 2>&1 || packages+=(docker.io)
python3 -m venv --help >/dev/null 2>&1 || packages+=(python3-venv)
if [[ $WITH_TESTS -eq 1 ]]; then
  # groovy: the Jenkins library's tests; docker-registry: push/pull tests; gpg: the infra suite signs
  # its stand-in apt repositories; docker-compose: compose v1 (what Debian 12 hosts run) for the
  # adoption test; the rest: linters, SSH.
  packages+=(groovy docker-registry gpg shellcheck yamllint openssh-client docker-compose)
  # the dashboard's browser tests: Chromium driven through WebDriver, with a CJK font so
  # Japanese screenshots are readable
  packages+=(chromium chromium-driver fonts-noto-cjk)
  command -v npm >/dev/null 2>&1 || packages+=(npm)  # npm-groovy-lint ships the CodeNarc jars
fi
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting the Docker engine"
  if [[ -d /run/systemd/system ]] && systemctl start docker 2>/dev/null; then
    :
  else
    setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "the Docker engine did not start; see /var/log/dockerd.log" >&2; exit 1; }
fi

if [[ ! -x .venv/bin/mlci ]] || [[ pyproject.toml -nt .venv/.mlci-installed ]]; then
  log "installing mlci into $REPO/.venv"
  python3 -m venv .venv
  extras="s3,hub,jenkins,dashboard"
  [[ $WITH_TESTS -eq 1 ]] && extras="$extras,test"
  pip_install ".[$extras]"
  touch .venv/.mlci-installed
elif [[ $WITH_TESTS -eq 1 ]] && ! .venv/bin/python -c "import pytest" 2>/dev/null; then
  pip_install ".[s3,hub,jenkins,dashboard,test]"
fi

if [[ $WITH_TESTS -eq 1 ]] && ! compgen -G ".tools/npm/node_modules/npm-groovy-lint/lib/java/CodeNarc-*.jar" >/dev/null; then
  # Only its jars are used (scripts/codenarc.sh runs them with java); pinned for a stable rule set.
  log "installing npm-groovy-lint (CodeNarc) into $REPO/.tools/npm"
  npm install --silent --no-audit --no-fund --prefix .tools/npm npm-groovy-lint@16.2.0 >/dev/null
fi

if [[ $WITH_TESTS -eq 1 ]] && [[ ! -x .tools/mlflow-venv/bin/mlflow ]]; then
  # The real MLflow server tests/track runs, in its own venv (about 850 MB): mlci itself only needs
  # the lightweight client (the mlflow extra). 3.18.0 does not install from the index.
  log "installing the MLflow server (mlflow==3.17.2) into $REPO/.tools/mlflow-venv"
  python3 -m venv .tools/mlflow-venv
  if ! .tools/mlflow-venv/bin/pip install -q mlflow==3.17.2 >.tools/mlflow-pip.log 2>&1; then
    tail -n 40 .tools/mlflow-pip.log >&2
    echo "pip install mlflow failed; full log: $REPO/.tools/mlflow-pip.log" >&2
    exit 1
  fi
fi

base_image=$(.venv/bin/python -c "from mlci.manifest import load_manifest; from pathlib import Path; print(load_manifest(Path('.')).build.base_image)")
if ! docker image inspect "$base_image" >/dev/null 2>&1; then
  log "building the base image $base_image offline (debootstrap, about a minute)"
  args=(--tag "$base_image")
  # Trust this machine's CA bundle inside images: needed behind TLS-intercepting proxies.
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] && args+=(--ca-bundle /etc/ssl/certs/ca-certificates.crt)
  [[ -n "${PIP_INDEX_URL:-}" ]] && args+=(--pip-index-url "$PIP_INDEX_URL")
  .venv/bin/mlci base-image build "${args[@]}"
fi
log "ready: $(docker version --format 'Docker {{.Server.Version}}'), $(.venv/bin/mlci --version)"
