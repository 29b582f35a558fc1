"""Shared hosts: one Docker engine, several checkouts (Jenkins workspaces, a developer's clone)
running projects of the same name. Cleanup removes only containers whose owner is provably dead,
and job ids are claimed atomically (mkdir), so concurrent runs never collide."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mlci.errors import UsageError
from mlci.record import store as records
from mlci.record.owner import current_owner, owner_alive
from tests.conftest import commit_all, mlci, write_project

SLEEPY = """\
    gpus: none
    stages: [{name: train, run: 'echo up; case "$MLCI_JOB_ID" in long*) sleep 300;; esac'}]
"""


def test_concurrent_claims_get_distinct_ids_and_never_raise(tmp_path):
    claimed: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        try:
            claimed.append(records.claim_job_dir(tmp_path, "p", "abc123", next_free=True)[0])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(claimed) == sorted(["abc123"] + [f"abc123-{n}" for n in range(2, 9)])
    with pytest.raises(UsageError, match="already exists"):
        records.claim_job_dir(tmp_path, "p", "abc123", next_free=False)


def test_a_dead_owner_is_detected_by_pid_start_time_and_boot():
    me = current_owner()
    assert owner_alive(me)
    assert not owner_alive(me.model_copy(update={"start_ticks": (me.start_ticks or 0) + 1}))  # a reused pid
    assert not owner_alive(me.model_copy(update={"boot": "another-boot"}))
    assert owner_alive(me.model_copy(update={"host": "another-host", "pid": 1}))  # cannot check: not dead


def _checkout(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    root.mkdir()
    (root / "mlci.yaml").write_text("version: 1\nname: shared\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    write_project(root, "same", SLEEPY)
    commit_all(root)
    return root


def _running(client, job: str) -> list:
    return client.api.containers(filters={"label": [f"mlci.job={job}"], "status": "running"})


@pytest.mark.docker
def test_a_second_checkout_never_removes_a_live_container_of_the_first(tmp_path, base_image, docker_client):
    first, second = _checkout(tmp_path, "workspace-1"), _checkout(tmp_path, "workspace-2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlci", "--root", str(first), "run", "same", "--job-id", "long-1", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _running(docker_client, "long-1"):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        [container] = _running(docker_client, "long-1")
        assert container["Labels"]["mlci.checkout"] == str(first)
        assert container["Labels"]["mlci.owner.pid"] == str(proc.pid)

        # the same project, run from another checkout on the same engine, cleans up before it starts
        other = mlci(second, "run", "same", "--job-id", "quick", "-q")
        assert other.returncode == 0, other.stderr
        assert "leftover" not in other.stderr
        assert _running(docker_client, "long-1"), "the first checkout's live container was removed"
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 130  # cancelled by us, not killed (137) by the other checkout
    status = json.loads((first / ".mlci/runs/same/long-1/status.json").read_text())
    assert status["overallStatus"] == "Cancelled"


@pytest.mark.docker
def test_a_dead_owners_container_is_removed_from_any_checkout(tmp_path, base_image, docker_client):
    first, second = _checkout(tmp_path, "clone-a"), _checkout(tmp_path, "clone-b")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlci", "--root", str(first), "run", "same", "--job-id", "long-2", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not _running(docker_client, "long-2"):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    proc.kill()
    proc.wait(timeout=10)
    result = mlci(second, "run", "same", "--job-id", "after", "-q")
    assert result.returncode == 0, result.stderr
    assert "removed 1 leftover container(s) of interrupted job long-2" in result.stderr
    assert docker_client.api.containers(all=True, filters={"label": ["mlci.job=long-2"]}) == []


@pytest.mark.docker
def test_two_runs_with_the_default_job_id_both_run_under_distinct_ids(monorepo, base_image):
    write_project(monorepo, "twice", "gpus: none\nstages: [{name: train, run: 'sleep 1'}]\n")
    commit = commit_all(monorepo)
    assert mlci(monorepo, "run", "twice", "-q").returncode == 0  # build once, so both start together
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mlci", "--root", str(monorepo), "run", "twice", "-q"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]
    assert all(code == 0 for code, _ in results), results
    jobs = sorted(p.name for p in (monorepo / ".mlci/runs/twice").iterdir())
    assert jobs == sorted([commit[:8], *(f"{commit[:8]}-{n}" for n in range(2, 5))])
