"""start.sh: shellcheck clean for every serve: variant, and the exact docker commands it runs —
checked by running it under /bin/sh with DOCKER pointing at a recorder that accepts only the
commands and options start.sh is meant to use (the real engine runs it in test_round_trip)."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from mlci.bundle import start_script
from tests.bundle.bundle_support import manifest_for

IMAGE_ID = "sha256:" + "c0" * 32
HOSTILE = """python src/serve.py --name 'it'"'"'s' $(touch /tmp/pwned) `id` ; rm -rf / && echo "$HOME" \\n"""

# A docker that records each call (arguments NUL-separated, one call per line) and refuses what
# start.sh should never run; `image inspect` fails until `load` ran, like an engine without the image.
RECORDER = textwrap.dedent("""\
    #!/bin/sh
    log="$RECORD_DIR/calls"
    for arg in "$@"; do printf '%s\\0' "$arg" >>"$log"; done
    printf '\\n' >>"$log"
    case "$1 $2" in
      "image inspect") [ -e "$RECORD_DIR/loaded" ] ;;
      "load --input") [ -f "$3" ] && touch "$RECORD_DIR/loaded" ;;
      "image tag") [ -e "$RECORD_DIR/loaded" ] ;;
      "container inspect") [ -e "$RECORD_DIR/running" ] ;;
      "container rm") rm -f "$RECORD_DIR/running" ;;
      "run --detach") touch "$RECORD_DIR/running" ;;
      *) echo "unexpected docker $*" >&2; exit 64 ;;
    esac
""")


def serve(**changes):
    manifest = manifest_for([], IMAGE_ID)
    return manifest.model_copy(update={"serve": manifest.serve.model_copy(update=changes)})


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"gpus": "all", "memory": 2 << 30, "cpus": 1.5},
        {"gpus": 2, "bind": "::", "publish": 9000},
        {"command": HOSTILE},
    ],
)
def test_start_sh_is_shellcheck_clean(tmp_path, changes):
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: apt-get install shellcheck (scripts/setup.sh --test installs it)"
    script = tmp_path / "start.sh"
    script.write_text(start_script.render(serve(**changes)))
    done = subprocess.run([shellcheck, "--shell=sh", "--severity=style", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def run_start(tmp_path: Path, manifest, **env: str) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    bundle = tmp_path / "digits-v3"
    (bundle / "model").mkdir(parents=True, exist_ok=True)
    (bundle / "image.tar").write_bytes(b"image")
    (bundle / "start.sh").write_text(start_script.render(manifest))
    (bundle / "start.sh").chmod(0o755)
    record = tmp_path / "record"
    record.mkdir(exist_ok=True)
    docker = tmp_path / "docker"
    docker.write_text(RECORDER)
    docker.chmod(0o755)
    full_env = {"PATH": os.environ["PATH"], "RECORD_DIR": str(record), "DOCKER": str(docker), **env}
    done = subprocess.run(["/bin/sh", str(bundle / "start.sh")], capture_output=True, text=True, env=full_env, cwd="/")
    log = (record / "calls").read_text() if (record / "calls").exists() else ""
    calls = [line.split("\0")[:-1] for line in log.splitlines()]
    return done, calls


def test_start_sh_loads_tags_and_runs_the_serving_contract(tmp_path):
    done, calls = run_start(tmp_path, serve(command=HOSTILE, gpus=1, memory=1 << 30, cpus=0.5))
    assert done.returncode == 0, done.stderr
    here = str((tmp_path / "digits-v3").resolve())
    assert [c[:2] for c in calls] == [
        ["image", "inspect"],
        ["load", "--input"],
        ["image", "tag"],
        ["container", "inspect"],
        ["run", "--detach"],
    ]
    assert calls[1][2] == f"{here}/image.tar"
    assert calls[2][2:] == [IMAGE_ID, "mlci-bundle/digits:v3"]
    assert calls[4] == [
        "run",
        "--detach",
        "--name",
        "digits",
        "--restart",
        "unless-stopped",
        "--label",
        "mlci.project=digits",
        "--label",
        "mlci.model-version=v3",
        "--mount",
        f"type=bind,source={here}/model,target=/mlci/model,readonly",
        "--env",
        "MLCI_MODEL_DIR=/mlci/model",
        "--env",
        "MLCI_SERVE_PORT=8080",
        "--env",
        "MLCI_MODEL_VERSION=v3",
        "--env",
        "MLCI_PROJECT=digits",
        "--publish",
        "127.0.0.1:8080:8080",
        "--gpus",
        "1",
        "--memory",
        str(1 << 30),
        "--cpus",
        "0.5",
        IMAGE_ID,
        "sh",
        "-c",
        HOSTILE,  # one argument, exactly as written: nothing of it ran on the device
    ]
    assert not Path("/tmp/pwned").exists()
    assert "digits v3 runs as container digits on 127.0.0.1:8080 (health: /health)" in done.stdout


def test_a_second_start_replaces_the_container_without_loading_again(tmp_path):
    run_start(tmp_path, serve())
    done, calls = run_start(tmp_path, serve())
    assert done.returncode == 0, done.stderr
    assert [c[:2] for c in calls[5:]] == [
        ["image", "inspect"],
        ["image", "tag"],
        ["container", "inspect"],
        ["container", "rm"],
        ["run", "--detach"],
    ]
    assert "replacing the container digits" in done.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MLCI_BIND": "0.0.0.0", "MLCI_PUBLISH": "9999"}, ["--publish", "0.0.0.0:9999:8080"]),
        ({"MLCI_BIND": "::"}, ["--publish", "[::]:8080:8080"]),
        ({"MLCI_NETWORK": "edge"}, ["--network", "edge", "--publish", "127.0.0.1:8080:8080"]),
        ({"MLCI_NETWORK": "host"}, ["--network", "host"]),
        ({"MLCI_CONTAINER": "digits-edge"}, ["--name", "digits-edge"]),
    ],
)
def test_settings_change_the_run(tmp_path, env, expected):
    done, calls = run_start(tmp_path, serve(), **env)
    assert done.returncode == 0, done.stderr
    run = calls[-1]
    assert any(run[i : i + len(expected)] == expected for i in range(len(run)))
    if env.get("MLCI_NETWORK") == "host":
        assert "--publish" not in run


def test_a_bad_port_setting_is_refused_before_docker_runs(tmp_path):
    done, calls = run_start(tmp_path, serve(), MLCI_PUBLISH="80; reboot")
    assert done.returncode == 2 and "MLCI_PUBLISH must be a port number" in done.stderr
    assert calls == []
