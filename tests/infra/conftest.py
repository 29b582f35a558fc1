"""Fixtures for the Ansible suite: an SSH test host, a repository checkout, and site.yml run over SSH.

The test host runs on Docker's default bridge with sshd published on 127.0.0.1, not with
`--network host` as the issue words it: Docker installed inside the host by the docker role would
otherwise take over (and on removal delete) the outer engine's `docker0` bridge. The traffic is the
same: Ansible and testinfra reach the host only through 127.0.0.1.

Tests marked `gpu` run against a real host given with testinfra's `--hosts` and are skipped without it.
"""

from __future__ import annotations

import shutil
import uuid

import infra_host
import pytest
from infra_checkout import Checkout, Provisioning, make_checkout


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu") and not item.config.getoption("hosts", default=None):
        pytest.skip("needs a real GPU host: pytest tests/infra -m gpu --hosts=ssh://USER@HOST --sudo")


@pytest.fixture(scope="session")
def ssh_host(tmp_path_factory: pytest.TempPathFactory):
    if shutil.which("debootstrap") is None:
        pytest.fail("the infra suite builds its test host with debootstrap: apt-get install debootstrap")
    image = infra_host.ensure_image(tmp_path_factory.mktemp("image"))
    name = f"{infra_host.PREFIX}-host-{uuid.uuid4().hex[:8]}"
    try:
        yield infra_host.start_host(image, name, tmp_path_factory.mktemp("ssh"))
    finally:
        infra_host.remove_host(name)


@pytest.fixture(scope="session")
def checkout(ssh_host: infra_host.SshHost, tmp_path_factory: pytest.TempPathFactory) -> Checkout:
    return make_checkout(tmp_path_factory.mktemp("checkout"), ssh_host)


@pytest.fixture(scope="session")
def provisioned(checkout: Checkout) -> Provisioning:
    """site.yml over SSH: in check mode on the fresh host, twice for real, in check mode again."""
    check = checkout.playbook("--check")
    docker_after_check = checkout.host_shell("dpkg-query -W docker.io").returncode == 0
    first = checkout.playbook()
    assert first.returncode == 0, f"first site.yml run failed:\n{first.output[-6000:]}"
    second = checkout.playbook()
    return Provisioning(check, docker_after_check, first, second, checkout.playbook("--check"))


@pytest.fixture(scope="session")
def test_host(provisioned, ssh_host: infra_host.SshHost):
    """testinfra's view of the provisioned test host, over the same SSH, as root (sudo)."""
    import testinfra  # pytest-testinfra; imported here so the rest of the test tree does not need it

    return testinfra.get_host(ssh_host.testinfra_url, ssh_config=str(ssh_host.ssh_config), sudo=True)


@pytest.fixture(scope="session")
def admin_host(provisioned, ssh_host: infra_host.SshHost):
    """The same host as its admin user, without sudo (for group membership taking effect)."""
    import testinfra

    return testinfra.get_host(ssh_host.testinfra_url, ssh_config=str(ssh_host.ssh_config))
