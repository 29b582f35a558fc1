"""The newcomer's first command (`./scripts/demo.sh`) validates mlci's own manifest first: it must
print no warning about mlci's own files."""

from __future__ import annotations

from tests.conftest import REPO, mlci


def test_mlci_own_manifest_validates_without_warnings():
    done = mlci(REPO, "validate")
    assert done.returncode == 0, done.stderr
    assert "warning" not in (done.stdout + done.stderr).lower(), done.stdout + done.stderr
