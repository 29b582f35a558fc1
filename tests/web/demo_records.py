"""Run records for the dashboard's tests and README screenshots, made through the record's own
transitions (tests/record_support.py), never written as JSON by hand."""

from __future__ import annotations

from pathlib import Path

from mlci.record.model import Experiment, GpuUse, RunStatus, StageStatus, Tracking
from mlci.record.store import RunRecord
from tests.conftest import BAD_RECORDS_MARKER  # the suite's schema check skips a tree so marked
from tests.record_support import finished_run, gate_verdict

HOSTILE_METRIC = "<script>window.__pwned=1</script>"
HOSTILE_REASON = '"\'><img src=x onerror="window.__pwned=2">'
HOSTILE_URL = "javascript:window.__pwned=3"
MLFLOW_URL = "http://127.0.0.1:5000/#/experiments/1/runs/9f1c"


def bulk(root: Path, count: int) -> None:
    for i in range(count):
        finished_run(root, "bulk", f"run-{i:04d}", values=(0.80 + (i % 20) / 100,), files={"m": b"x"})


def digits(root: Path) -> None:
    for i, value in enumerate((0.91, 0.88, 0.95, 0.97)):
        record = finished_run(root, "digits", f"d-{i}", values=(value,), extra_metrics={"loss": 1 - value})
        if i == 1:
            record.state.rerun_of = "d-0"
        if i == 2:
            record.state.experiment = Experiment(name="lr-sweep", overrides={"train.lr": 0.01, "train.epochs": 3})
        if i == 3:
            record.state.published("hub", "https://huggingface.co/acme/digits/tree/d-3")
            record.state.gpus = GpuUse(requested="1", devices="0", uuids=["GPU-0000"])
            record.state.tracking = Tracking(
                server="http://127.0.0.1:5000", experiment_id="1", run_id="9f1c", url=MLFLOW_URL
            )
            record.path("attempt-1").mkdir(exist_ok=True)
            record.path("attempt-1/train.log").write_text("".join(f"epoch {n} loss {1 / n:.3f}\n" for n in range(1, 9)))
            record.path("build.log").write_text("cache hit: mlci/digits:abc123\n")
        record.save()


def hostile(root: Path) -> None:
    record = finished_run(root, "hostile", "h-1", values=(0.95,), extra_metrics={HOSTILE_METRIC: 1.0})
    record.state.gate = record.state.gate.model_copy(update={"reason": HOSTILE_REASON})
    record.state.published("hub", HOSTILE_URL)
    record.state.tracking = Tracking(server="http://mlflow", url=HOSTILE_URL, warning="<b>down</b>")
    record.save()
    # a log that names a file outside the run's directory through a symlink
    (record.dir / "attempt-1" / "train.log").symlink_to("/etc/hostname")
    # a half-written record in a project of its own, marked for the suite's schema check
    broken = record.dir.parent.parent / "damaged" / "half-written"
    broken.mkdir(parents=True)
    (broken.parent / BAD_RECORDS_MARKER).touch()
    (broken / "status.json").write_text('{"jobId": "half-written", "project": "damaged", "overallSt')


def live(root: Path) -> RunRecord:
    """A run in its train stage: a test appends to its log and finishes it while a page watches."""
    record = RunRecord.create(root, "live", "live-1")
    state = record.state
    state.begin_build()
    state.build.succeed(image_uri="mlci/live:1", image_id="sha256:" + "cd" * 32, cache_hit=False,
                        context_hash="d" * 64, duration_s=2.0)  # fmt: skip
    state.begin_running()
    attempt = state.begin_attempt()
    state.begin_stage(attempt, "train")
    record.path("attempt-1").mkdir(exist_ok=True)
    record.path("attempt-1/train.log").write_text("epoch 1 loss 0.9\n")
    record.save()
    return record


def finish_live(record: RunRecord) -> None:
    state = record.state
    attempt = state.attempts[-1]
    attempt.stages[-1].finish(StageStatus.SUCCEEDED, 0, 3.0, None)
    attempt.accept_outputs(1, 1)
    attempt.judge(gate_verdict(0.95), {"accuracy": 0.95}, None)
    state.adopt(attempt)
    record.close(RunStatus.SUCCEEDED, None)


def demo_site(root: Path, *, bulk_runs: int) -> RunRecord:
    bulk(root, bulk_runs)
    digits(root)
    hostile(root)
    return live(root)
