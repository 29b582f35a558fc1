"""Aborts with a REAL `sh`: the harness stops the script as Jenkins does (SIGTERM to the processes
carrying the step's JENKINS_SERVER_COOKIE, SoftKillWaitSeconds per process tree, never SIGKILL; see
harness.groovy), so an `mlci run` that ignores SIGTERM outlives the step. Its stage container — a
real one, on the real engine — must still be gone when the branch ends: the library's backstop runs
the real `mlci cleanup` on the node. A container of another project of the same build is untouched."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from . import harness
from .scenarios import entry

pytestmark = pytest.mark.docker

# `mlci run` that starts its stage container, then hangs with SIGTERM ignored (as its children do);
# every other mlci command is the real one.
FAKE_MLCI = """\
#!/bin/sh
if [ "$1" = run ]; then
    trap '' TERM
    job=${3#--job-id=}
    docker run -d --name "$HUNG_CONTAINER" --label mlci.project="$2" --label mlci.job="$job" \\
        --network none "$BASE_IMAGE" sleep 600 >/dev/null
    touch "$STARTED"
    while :; do sleep 1; done
fi
exec "$REAL_MLCI" "$@"
"""


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def aborted(tmp_path_factory, base_image):
    tmp = tmp_path_factory.mktemp("abort-real")
    workspace = tmp / "ws"
    workspace.mkdir()
    git(workspace, "init", "-q")
    (workspace / "README").write_text("x\n")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", "one")
    commit = git(workspace, "rev-parse", "HEAD")
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    (bin_dir / "mlci").write_text(FAKE_MLCI)
    (bin_dir / "mlci").chmod(0o755)
    tag = uuid.uuid4().hex[:8]
    project = f"hung-{tag}"
    job = f"{commit[:12]}-mlci-release-7"
    hung, bystander = f"mlci-abort-test-{tag}", f"mlci-abort-test-{tag}-other"
    # another project of the same build (same job id): the backstop must leave it alone
    subprocess.run(
        ["docker", "run", "-d", "--name", bystander, "--label", f"mlci.project={project}-b",
         "--label", f"mlci.job={job}", "--network", "none", base_image, "sleep", "600"],
        check=True, capture_output=True,
    )  # fmt: skip
    started = tmp / "started"
    scenario = {
        "name": "hung",
        "step": "mlciTrain",
        "args": {"project": entry(project, 0, timeout_s=3600), "commit": commit, "recordWaitS": 3},
        "build": 7,
        "realSh": True,
        "softKillWaitS": 2,  # short, so the test is; the model is the same as with the rendered 30
        "workdir": str(workspace),
        "abortWhenFile": str(started),
        "shEnv": {
            "PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "REAL_MLCI": str(Path(sys.executable).parent / "mlci"),
            "HUNG_CONTAINER": hung,
            "BASE_IMAGE": base_image,
            "STARTED": str(started),
            "HOME": str(tmp),
        },
    }
    # The script's own shell ignores SIGTERM too: Jenkins' kill is over after 2 × SoftKillWaitSeconds,
    # but the step waits for the script until DurableTaskStep's REMOTE_TIMEOUT (20 s), then gives up.
    stubborn = {
        "name": "shell-ignores-term",
        "step": "script",
        "script": "node('mlci') { sh(script: \"trap '' TERM; touch '${STARTED}2'; while :; do sleep 1; done\", "
        "returnStatus: true) }".replace("${STARTED}", str(started)),
        "realSh": True,
        "softKillWaitS": 2,
        "workdir": str(workspace),
        "abortWhenFile": f"{started}2",
        "shEnv": {"PATH": "/usr/bin:/bin", "HOME": str(tmp)},
    }
    results = harness.run(scenarios=[scenario, stubborn], timeout=300)["scenarios"]
    yield {"result": results["hung"], "stubborn": results["shell-ignores-term"], "project": project, "job": job,
           "hung": hung, "bystander": bystander}  # fmt: skip
    for result in results.values():
        for call in result["calls"]:
            for pid in call.get("survivors") or []:  # ours: the processes Jenkins never kills
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    subprocess.run(["docker", "rm", "-f", hung, bystander], capture_output=True, check=False)


def exists(name: str) -> bool:
    return subprocess.run(["docker", "inspect", name], capture_output=True, check=False).returncode == 0


def test_the_hung_mlci_is_signalled_but_never_killed(aborted):
    r = aborted["result"]
    assert r["result"] == "ABORTED", (r["error"], r["log"][-20:])
    run = next(c for c in r["calls"] if c["step"] == "sh" and c["args"]["script"].startswith("mlci run"))
    assert run["interrupted"] == ["UserInterruption"]
    assert run["survived"] and run["survivors"]
    for pid in run["survivors"]:
        assert Path(f"/proc/{pid}").exists()  # still running after the build ended: no SIGKILL
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert any(e.startswith(b"JENKINS_SERVER_COOKIE=durable-") for e in environ)
    # SIGTERM, then SoftKillWaitSeconds (2 s here) for each of the two process trees carrying the cookie
    assert run["stoppedAt"] - run["terminatedAt"] >= 2 * 2


def test_its_stage_container_is_removed_by_the_backstop_and_nothing_else(aborted):
    r = aborted["result"]
    cleanup = [c for c in r["calls"] if c["step"] == "sh" and c["args"]["script"].startswith("mlci cleanup")]
    assert [c["args"]["script"] for c in cleanup] == [f"mlci cleanup {aborted['project']} --job={aborted['job']}"]
    assert cleanup[0]["node"] == "gpu-01" and cleanup[0]["status"] == 0
    assert any(f"removed 1 leftover container(s) of {aborted['project']}" in line for line in r["log"]), r["log"]
    assert not exists(aborted["hung"])
    assert exists(aborted["bystander"])


def test_the_step_gives_up_on_a_script_whose_shell_ignores_sigterm(aborted):
    r = aborted["stubborn"]
    assert r["result"] == "ABORTED", (r["error"], r["log"][-20:])
    (sh,) = [c for c in r["calls"] if c["step"] == "sh"]
    assert sh["interrupted"] == ["UserInterruption"] and sh["survived"]
    # the shell itself is among the survivors: the step did not wait for it to end, only REMOTE_TIMEOUT
    shells = [pid for pid in sh["survivors"] if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sh\0-xe\0")]
    assert shells, sh["survivors"]
    assert sh["stoppedAt"] - sh["terminatedAt"] > 19  # REMOTE_TIMEOUT (20 s), give or take a millisecond
