"""`mlci track`'s usage errors (exit 2); sending to a real server is in tests/track/."""

from __future__ import annotations

from tests.conftest import mlci
from tests.record_support import finished_run


def test_mlci_track_usage(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "mlci.yaml").write_text("version: 1\nname: t\n")
    finished_run(root, job="j")
    untracked = mlci(root, "track", "digits", "j")
    assert untracked.returncode == 2 and "sets no tracking server" in untracked.stderr
    (root / "mlci.yaml").write_text("version: 1\nname: t\ntracking: {mlflow: {uri: 'http://127.0.0.1:9'}}\n")
    missing = mlci(root, "track", "digits", "nope")
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr
    running = finished_run(root, job="live", close=False)
    assert running.active
    still = mlci(root, "track", "digits", "live")
    assert still.returncode == 2 and "still Running" in still.stderr
