"""gpu-smoke.yml (site.yml's last play) with the real ansible-playbook and the real mlci, against
this machine over Ansible's local connection: it has no GPU, so the check's exit status 3 passes
the play, and a host that mlci.yaml says has GPUs fails it, naming the failed check. (Over SSH on
two hosts, inside site.yml, in tests/adoption/test_adoption_hosts.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from infra_checkout import ANSIBLE_DIR, ansible_tool

from mlci.host import gpu_facts

MLCI = str(Path(sys.executable).parent / "mlci")


@pytest.fixture
def play(tmp_path):
    if os.path.exists(gpu_facts.PROC_VERSION) or gpu_facts.scan_pci(gpu_facts.RealHost()).gpus:
        pytest.fail("this test expects a machine without an NVIDIA GPU (a GPU host runs tests/infra -m gpu)")
    inventory = tmp_path / "inventory.yml"
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory.write_text(yaml.safe_dump({"all": {"children": {"mlci_builders": {"hosts": {"localhost": host}}}}}))

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        command = [
            ansible_tool("ansible-playbook"),
            "-i",
            str(inventory),
            "gpu-smoke.yml",
            "-e",
            f"mlci_gpu_smoke_command={MLCI}",
        ]
        env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "MLCI_GPU_INVENTORY": str(tmp_path / "absent.json")}
        return subprocess.run([*command, *extra], cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, timeout=600)

    return run


def test_no_gpu_here_passes_the_play_and_changes_nothing(play):
    done = play("-e", "mlci_gpus=0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "result: no NVIDIA GPU on this host: nothing to check (exit status 3)" in done.stdout
    assert "changed=0" in done.stdout and "failed=0" in done.stdout
    assert play("--check").returncode == 0  # check mode skips the check


def test_a_host_declared_with_gpus_fails_the_play_naming_the_check(play):
    done = play("-e", "mlci_gpus=2")
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        "The GPU smoke check failed on localhost (exit status 1): fail  driver: no NVIDIA GPU on this host"
        in done.stdout
    )
    assert "but 2 expected" in done.stdout and "sudo mlci doctor --gpu-smoke" in done.stdout
