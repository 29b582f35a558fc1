"""Step 5 of the adoption: the team's rendered playbook provisions two SSH test hosts (one controller
and agent, one agent only), and each then has the pinned mlci, the base image, a passing
`mlci doctor` and runs a project with `mlci run` on its own Docker engine.

The hosts are tests/infra's (systemd + sshd containers reached on 127.0.0.1). They reach this
machine's package index and registry only through SSH reverse forwards on their own 127.0.0.1,
so every byte still travels over loopback here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from adoption_support import BASE_IMAGE, docker, local_registry, ok, sh

from mlci import __version__

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "infra"))
import infra_host

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROLES = {"ctl": ["controller", "agent"], "worker": ["agent"]}


def ssh(host: infra_host.SshHost, command: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-F", str(host.ssh_config), host.name, command], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def hosts(adopted, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("adoption-hosts")
    image = infra_host.ensure_image(work)
    suffix = uuid.uuid4().hex[:8]
    started: dict[str, infra_host.SshHost] = {}
    tag = None
    try:
        for role in ROLES:
            (work / role).mkdir()
            started[role] = infra_host.start_host(image, f"mlci-adopt-{role}-{suffix}", work / role)
        with local_registry(work) as registry:
            # build.base_image names a pullable image: the role pulls it on each host
            tag = f"{registry}/mlci/python:3.11-bookworm"
            ok(docker("tag", BASE_IMAGE, tag))
            ok(docker("push", tag, timeout=600))
            yield from _provision(adopted, work, started, registry, tag)
    finally:
        for host in started.values():
            infra_host.remove_host(host.name)
        if tag:
            docker("image", "rm", tag)


def _provision(adopted, work: Path, started: dict, registry: str, base_image: str):
    env = dict(adopted["env"])
    repo = work / "team-ml"
    ok(sh(f"git clone -q {adopted['repo']} {repo}", work, env))
    manifest = yaml.safe_load((repo / "mlci.yaml").read_text())
    text = (
        (repo / "mlci.yaml").read_text().replace("base_image: mlci/python:3.11-bookworm", f"base_image: {base_image}")
    )
    hosts_yaml = "hosts:\n" + "".join(
        f"  - {{name: {role}, address: 127.0.0.1, ssh_port: {host.port}, ssh_user: {host.user}, gpus: 0,"
        f" roles: [{', '.join(ROLES[role])}]}}\n"
        for role, host in started.items()
    )
    (repo / "mlci.yaml").write_text(text + hosts_yaml)
    ok(sh("mlci validate && mlci render && git add -A && git commit -qm 'Our GPU hosts'", repo, env))

    # What a team adds next to the rendered inventory for its own machines (here: the test hosts'
    # keys, and reverse forwards to this machine's package index and registry).
    index_port = urlsplit(adopted["index"]).port
    registry_port = int(registry.rsplit(":", 1)[1])
    forwards = (
        f"-R 127.0.0.1:{index_port}:127.0.0.1:{index_port} -R 127.0.0.1:{registry_port}:127.0.0.1:{registry_port}"
    )
    for role, host in started.items():
        host_vars = {
            "ansible_ssh_private_key_file": str(host.identity_file),
            "ansible_ssh_common_args": f"-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null {forwards}",
        }
        (repo / "ansible" / "host_vars").mkdir(exist_ok=True)
        (repo / "ansible" / "host_vars" / f"{role}.yml").write_text(yaml.safe_dump(host_vars))
    group_vars = yaml.safe_load((repo / "ansible/group_vars/all.yml").read_text())
    play_env = {k: v for k, v in env.items() if not k.startswith("ANSIBLE_")}
    play_env |= {s["name"]: f"value-of-{s['name'].lower()}-0123456789" for s in group_vars["mlci_secrets"]}
    play_env |= {"ANSIBLE_CONFIG": str(repo / "ansible" / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0"}
    ansible_bin = Path(sys.executable).parent
    play_env["PATH"] = f"{ansible_bin}:{play_env['PATH']}"
    # Test-host choices, as tests/infra makes them: Debian's docker.io, no `up` (no Jenkins image here).
    extra = {"mlci_docker_source": "distro", "mlci_stack_start": False, "mlci_docker_users": ["mlci-admin"]}

    def playbook() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ansible_bin / "ansible-playbook"), "-i", "inventory.yml", "site.yml", "-e", json.dumps(extra)],
            cwd=repo / "ansible",
            env=play_env,
            capture_output=True,
            text=True,
            timeout=1800,
        )

    play = playbook()
    again = playbook() if play.returncode == 0 else None
    results: dict[str, dict[str, subprocess.CompletedProcess[str]]] = {}
    if play.returncode == 0:
        for role, host in started.items():
            copy = subprocess.run(
                f"git -C {repo} archive --format=tar --prefix=team-ml/ HEAD | "
                f"ssh -F {host.ssh_config} {host.name} 'rm -rf team-ml && tar -xf -'",
                shell=True,
                capture_output=True,
                text=True,
            )
            results[role] = {
                "copy": copy,
                "version": ssh(host, "mlci --version"),
                "base": ssh(host, f"docker image inspect --format '{{{{.Id}}}}' {base_image}"),
                "doctor": ssh(host, "cd team-ml && mlci doctor"),
                "run": ssh(host, "cd team-ml && mlci run example --gpus none -q"),
                "git": ssh(host, "git --version"),
            }
    yield {
        "play": play,
        "again": again,
        "results": results,
        "manifest": manifest,
        "base_image": base_image,
        "started": started,
    }


def test_the_rendered_playbook_provisions_both_hosts(hosts) -> None:
    play = hosts["play"]
    assert play.returncode == 0, play.stdout[-8000:] + play.stderr[-3000:]
    for role in ROLES:
        assert f"{role} " in play.stdout and "failed=0" in play.stdout
    assert "TASK [mlci_host : Install the pinned mlci" in play.stdout


def test_each_host_has_the_pinned_mlci_git_and_the_base_image(hosts) -> None:
    assert hosts["play"].returncode == 0
    for role, result in hosts["results"].items():
        assert result["version"].stdout.strip() == f"mlci, version {__version__}", (role, result["version"].stderr)
        assert result["git"].returncode == 0, role
        assert result["base"].stdout.startswith("sha256:"), (role, result["base"].stderr)


def test_doctor_passes_its_required_checks_on_each_host(hosts) -> None:
    assert hosts["play"].returncode == 0
    for role, result in hosts["results"].items():
        doctor = result["doctor"]
        assert doctor.returncode == 0, (role, doctor.stdout + doctor.stderr)
        assert "✓ Docker engine" in doctor.stdout and f"✓ base image: {hosts['base_image']}" in doctor.stdout


def test_a_project_runs_on_each_hosts_engine(hosts) -> None:
    assert hosts["play"].returncode == 0
    for role, result in hosts["results"].items():
        assert result["copy"].returncode == 0, result["copy"].stderr
        run = result["run"]
        assert run.returncode == 0, (role, run.stdout[-4000:] + run.stderr[-4000:])
    # the record is on the host: the run happened there, on its engine
    for host in hosts["started"].values():
        status = ssh(host, "cat team-ml/.mlci/runs/example/*/status.json")
        assert '"overallStatus": "Succeeded"' in status.stdout or '"overallStatus":"Succeeded"' in status.stdout, (
            status.stdout[-2000:]
        )


def test_the_last_play_runs_the_gpu_smoke_check_on_each_host(hosts) -> None:
    """site.yml ends with gpu-smoke.yml: `mlci doctor --gpu-smoke` on every host that runs stages.
    These hosts have no GPU (and mlci.yaml declares none), so each reports exit status 3 and passes."""
    play = hosts["play"]
    assert play.returncode == 0
    assert "PLAY [Smoke-test the GPUs of every host that runs stages]" in play.stdout
    assert "TASK [mlci_gpu_smoke : Run the GPU smoke check (mlci doctor --gpu-smoke)]" in play.stdout
    reports = play.stdout.count("result: no NVIDIA GPU on this host: nothing to check (exit status 3)")
    assert reports == len(hosts["started"]), play.stdout[-6000:]
    assert role_changes(hosts["again"].stdout, "mlci_gpu_smoke") == []


def role_changes(output: str, role: str) -> list[str]:
    """The `changed:` lines of one role's tasks in ansible-playbook's output."""
    changed, current = [], ""
    for line in output.splitlines():
        if line.startswith("TASK ["):
            current = line
        elif line.startswith("changed:") and current.startswith(f"TASK [{role} :"):
            changed.append(f"{current} {line}")
    return changed


def test_a_second_run_changes_nothing_in_the_new_role(hosts) -> None:
    again = hosts["again"]
    assert again is not None and again.returncode == 0, again.stdout[-4000:] if again else "first run failed"
    assert "TASK [mlci_host : Look for the base image]" in again.stdout  # the role ran again
    assert role_changes(again.stdout, "mlci_host") == []
