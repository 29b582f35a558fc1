"""site.yml over real SSH against a fresh Debian host: check mode is safe, it converges, a rerun changes nothing."""

import json

import pytest
from infra_checkout import SECRETS

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_check_mode_on_a_fresh_host_succeeds_and_installs_no_docker(provisioned, checkout):
    # (It may install python3-apt and pciutils: apt's check mode and GPU detection need them.)
    check = provisioned.check_on_fresh_host
    assert check.returncode == 0, check.output[-6000:]
    assert check.recap(checkout.host.name)["failed"] == 0
    assert check.recap(checkout.host.name)["changed"] > 0  # it reports what a real run would do
    assert not provisioned.docker_after_check


def test_first_run_provisions_the_host(provisioned, checkout):
    recap = provisioned.first.recap(checkout.host.name)
    assert recap["failed"] == 0 and recap["unreachable"] == 0
    assert recap["changed"] > 0


def test_second_run_changes_nothing(provisioned, checkout):
    second = provisioned.second
    assert second.returncode == 0, second.output[-6000:]
    recap = second.recap(checkout.host.name)
    assert recap["changed"] == 0, f"second run changed {recap['changed']} task(s):\n{second.output[-6000:]}"


def test_check_mode_on_the_converged_host_changes_nothing(provisioned, checkout):
    check = provisioned.check_on_converged_host
    assert check.returncode == 0, check.output[-6000:]
    assert check.recap(checkout.host.name)["changed"] == 0, check.output[-6000:]


def test_no_secret_value_in_the_playbook_output(provisioned):
    runs = (provisioned.check_on_fresh_host, provisioned.first, provisioned.second, provisioned.check_on_converged_host)
    for run in runs:
        for secret in SECRETS:
            assert secret["value"] not in run.output


def test_a_missing_secret_stops_the_play_naming_it_but_not_a_value(provisioned, checkout):
    env = checkout.environment(MLCI_TEST_GITHUB_TOKEN=None)
    run = checkout.playbook("--start-at-task", "mlci_stack : Check the rendered variables are there", env=env)
    assert run.returncode != 0
    assert "Secret MLCI_TEST_GITHUB_TOKEN (for jenkins) has no value" in run.output
    assert "Secret MLCI_TEST_FRP_TOKEN" not in run.output
    for secret in SECRETS:
        assert secret["value"] not in run.output


# nvidia-ctk's rendering of daemon.json (Go, 4-space indent, no log options): what the docker role
# must keep, and rewrite in its own format, so a GPU host's rerun also changes nothing.
NVIDIA_CTK_DAEMON_JSON = """{
    "runtimes": {
        "nvidia": {
            "args": [],
            "path": "nvidia-container-runtime"
        }
    }
}"""
DAEMON_JSON_ONLY_PLAY = """\
- name: Rewrite daemon.json as the nvidia_container_toolkit role does after nvidia-ctk
  hosts: all
  become: true
  tasks:
    - name: Run the docker role's daemon.json tasks
      ansible.builtin.include_role:
        name: docker
        tasks_from: daemon_json.yml
"""


def test_docker_role_keeps_the_nvidia_runtime_nvidia_ctk_wrote(provisioned, checkout):
    original = checkout.host_shell("sudo cat /etc/docker/daemon.json").stdout
    play = checkout.ansible_dir / "daemon_json_only.yml"
    play.write_text(DAEMON_JSON_ONLY_PLAY)
    try:
        written = checkout.host_shell(f"printf '%s' '{NVIDIA_CTK_DAEMON_JSON}' | sudo tee /etc/docker/daemon.json")
        assert written.returncode == 0, written.stderr
        rewrite = checkout.playbook(playbook=play.name)
        assert rewrite.returncode == 0, rewrite.output[-4000:]
        assert rewrite.recap(checkout.host.name)["changed"] >= 1
        options = json.loads(checkout.host_shell("sudo cat /etc/docker/daemon.json").stdout)
        assert options["runtimes"] == {"nvidia": {"args": [], "path": "nvidia-container-runtime"}}
        assert options["log-driver"] == "json-file"
        assert checkout.host_shell("systemctl is-active docker").stdout.strip() == "active"
        again = checkout.playbook(playbook=play.name)
        assert again.recap(checkout.host.name)["changed"] == 0, again.output[-4000:]
    finally:
        checkout.host_shell(
            f"printf '%s' '{original}' | sudo tee /etc/docker/daemon.json && sudo systemctl restart docker"
        )
        play.unlink()
