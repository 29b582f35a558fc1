"""site.yml over real SSH against a fresh Debian host: it converges, and a second run changes nothing."""

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_first_run_provisions_the_host(provisioned, checkout):
    first, _ = provisioned
    recap = first.recap(checkout.host.name)
    assert recap["failed"] == 0 and recap["unreachable"] == 0
    assert recap["changed"] > 0


def test_second_run_changes_nothing(provisioned, checkout):
    _, second = provisioned
    assert second.returncode == 0, second.output[-6000:]
    recap = second.recap(checkout.host.name)
    assert recap["changed"] == 0, f"second run changed {recap['changed']} task(s):\n{second.output[-6000:]}"
