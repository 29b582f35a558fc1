"""A project's declared secrets are masked on every output path — stage logs (per stream, so a
secret split by a stderr frame is still caught), console, status.json (keys too), junit and mlci's
own progress lines — whatever the secret's name looks like (DB_PASS matches no secret pattern)."""

from __future__ import annotations

import json

import pytest

from mlci.runner.logsink import LogSink
from tests.conftest import mlci, write_project

SECRET = "s3cr3t-v4lue-0f-the-db"


def test_per_stream_masking_catches_a_secret_split_around_a_stderr_frame(tmp_path):
    with LogSink(tmp_path / "log", echo=False, secrets=[SECRET]) as sink:
        sink.write(SECRET[:7].encode(), 1)
        sink.write(b"an error line\n", 2)
        sink.write(SECRET[7:].encode() + b"\n", 1)
    text = (tmp_path / "log").read_text()
    assert SECRET not in text and "****" in text
    assert "an error line" in text


SPLITTER = """\
    import json, os, sys, time
    s = os.environ["DB_PASS"]
    sys.stdout.write(s[:7]); sys.stdout.flush(); time.sleep(0.3)
    sys.stderr.write("noise on stderr\\n"); sys.stderr.flush(); time.sleep(0.3)
    sys.stdout.write(s[7:] + "\\n"); sys.stdout.flush()
    json.dump({s: 1.0, "accuracy": 0.9}, open(os.environ["MLCI_OUTPUT_DIR"] + "/metrics.json", "w"))
"""


@pytest.mark.docker
def test_a_declared_secret_never_appears_in_any_output(monorepo, base_image):
    write_project(
        monorepo,
        "db",
        """\
        gpus: none
        secrets: [DB_PASS]
        stages: [{name: train, run: python split.py}]
        gate: {metric: accuracy, min: 0.5}
    """,
        files={"split.py": SPLITTER},
    )
    result = mlci(monorepo, "run", "db", "--job-id", "masked", env={"DB_PASS": SECRET})
    assert result.returncode == 0, result.stderr
    assert "noise on stderr" in result.stdout + result.stderr
    for text in (result.stdout, result.stderr):
        assert SECRET not in text and SECRET[:7] + SECRET[7:] not in text
    run_dir = monorepo / ".mlci/runs/db/masked"
    for path in run_dir.rglob("*"):
        # what mlci writes; out/ holds the stage's own artifacts, which mlci never rewrites
        if path.is_file() and "out" not in path.relative_to(run_dir).parts:
            assert SECRET.encode() not in path.read_bytes(), path
    status = json.loads((run_dir / "status.json").read_text())
    assert "****" in status["metrics"] and status["metrics"]["accuracy"] == 0.9
    assert "****" in (run_dir / "attempt-1/train.log").read_text()
    shown = mlci(monorepo, "status", "db", env={"DB_PASS": SECRET})
    assert SECRET not in shown.stdout + shown.stderr
