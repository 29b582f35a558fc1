"""Every exit path of a run, through the state machine with the Docker side replaced by a strict
fake engine (no Docker, runs in seconds). Each test checks the record a reader would see on disk:
every part closed with its true state, and valid against the shipped schema."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from mlci import contract
from mlci.errors import Cancelled, MlciError
from mlci.manifest import load_manifest, load_project
from mlci.record.schema import SHIPPED
from mlci.record.store import RecordWriteError, RunRecord
from mlci.run.machine import ProjectRun, RunOptions
from mlci.runner.container import StageResult, StageSpec
from mlci.runner.gpus import GpuPlan, GpuRequest
from mlci.runner.image import BuildFailed, BuiltImage
from mlci.runner.logsink import LogSink, LogWriteError

SCHEMA = json.loads(SHIPPED.read_text())

# A stage's behaviour: given its container spec, its /mlci/out on the host and its log, return
# what the engine would report, or raise what the engine would raise.
Action = Callable[[StageSpec, Path, LogSink], StageResult]


def passes(accuracy: float = 0.95) -> Action:
    def act(spec: StageSpec, out: Path, sink: LogSink) -> StageResult:
        sink.write(f"training attempt {spec.env['MLCI_ATTEMPT']}\n")
        (out / "metrics.json").write_text(json.dumps({"accuracy": accuracy}))
        (out / "model.bin").write_bytes(b"weights-" + spec.env["MLCI_ATTEMPT"].encode())
        return StageResult("Succeeded", 0, 1.5)

    return act


def exits(code: int) -> Action:
    return lambda spec, out, sink: StageResult("Succeeded" if code == 0 else "Failed", code, 0.5)


def times_out(spec: StageSpec, out: Path, sink: LogSink) -> StageResult:
    return StageResult("Timed Out", 137, float(spec.timeout_s))


def links_out(spec: StageSpec, out: Path, sink: LogSink) -> StageResult:
    (out / "metrics.json").write_text('{"accuracy": 0.99}')
    (out / "secret").symlink_to("/etc/shadow")
    return StageResult("Succeeded", 0, 0.1)


def raises(exc: BaseException) -> Action:
    def act(spec: StageSpec, out: Path, sink: LogSink) -> StageResult:
        raise exc

    return act


class FakeEngine:
    """The Docker side, strict about the container contract: a stage spec that breaks it fails
    the test, whatever the state machine does afterwards."""

    def __init__(self, stages: dict[tuple[int, str], Action], build: str | BaseException = "built"):
        self.stages = stages
        self.build_outcome = build
        self.calls: list[str] = []

    def clean_leftovers(self, root: Path, project: str, say) -> None:
        self.calls.append(f"clean {project}")

    def plan_gpus(self, request: GpuRequest) -> GpuPlan:
        return GpuPlan(device_request=None, devices="none")

    def build(self, project, context, settings, *, no_cache, log, phases, log_path) -> BuiltImage:
        assert (context / "Dockerfile").is_file() and log_path.name == "build.log"
        self.calls.append(f"build {project}")
        log("step 1/1\n")
        if isinstance(self.build_outcome, BaseException):
            raise self.build_outcome
        return BuiltImage(f"mlci/{project}:c0ffee", "sha256:" + "1" * 64, self.build_outcome == "cached", "c" * 64)

    def resolve(self, reference: str) -> str:
        self.calls.append(f"resolve {reference}")
        return "sha256:" + "2" * 64

    def run_stage(self, spec: StageSpec, sink: LogSink, services: list, network: str) -> StageResult:
        attempt = int(spec.labels[contract.LABEL_ATTEMPT])
        assert spec.labels[contract.LABEL_STAGE] == spec.name == spec.env["MLCI_STAGE"]
        assert spec.labels[contract.LABEL_JOB] == spec.env["MLCI_JOB_ID"]
        assert spec.env["MLCI_ATTEMPT"] == str(attempt) and spec.timeout_s > 0
        assert spec.user == f"{os.getuid()}:{os.getgid()}"
        [out] = [Path(src) for src, bind in spec.binds.items() if bind["bind"] == contract.CONTAINER_OUT]
        assert out.is_dir() and out.name == "out" and out.parent.name == f"attempt-{attempt}"
        assert spec.cache_root is not None and spec.project == spec.labels[contract.LABEL_PROJECT]
        assert network.startswith("mlci-") and len(network) <= 63
        for service in services:
            assert service.labels[contract.LABEL_JOB] == spec.labels[contract.LABEL_JOB]
            assert service.log.parent == out.parent
        self.calls.append(f"stage {attempt} {spec.name}" + "".join(f" +{s.name}" for s in services))
        return self.stages[(attempt, spec.name)](spec, out, sink)

    def push(self, record: RunRecord, registry: str) -> str:
        raise AssertionError("no test here pushes")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    project = tmp_path / "projects" / "p"
    project.mkdir(parents=True)
    (project / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    (project / "config.yaml").write_text("lr: 0.1\n")
    (project / "project.yaml").write_text(
        "stages:\n  - {name: train, run: ./run.sh}\n  - {name: evaluate, run: python eval.py}\n"
        "gate: {metric: accuracy, min: 0.9}\nretrain: {max_attempts: 2}\n"
    )
    return tmp_path


def run(repo: Path, engine: FakeEngine, job: str = "job-1", **options) -> tuple[RunRecord, BaseException | None]:
    """Execute, and return the record as it is on disk plus what the run raised."""
    said: list[str] = []
    machine = ProjectRun(
        engine,
        repo,
        load_manifest(repo),
        load_project(repo, "p"),
        RunOptions(job_id=job, echo=False, **options),
        say=said.append,
        cache_dir=repo / "cache",
    )
    error: BaseException | None = None
    try:
        machine.execute()
    except BaseException as exc:  # the CLI maps these to exit codes; here we inspect them
        error = exc
    directory = repo / ".mlci" / "runs" / "p" / job
    data = json.loads((directory / "status.json").read_text())
    jsonschema.validate(data, SCHEMA)
    return RunRecord.load(directory), error


def statuses(record: RunRecord) -> list[tuple[int, str, list[tuple[str, str]]]]:
    return [(a.n, a.status.value, [(s.name, s.status.value) for s in a.stages]) for a in record.state.attempts]


def test_a_passing_run_is_published_once_and_closed(repo):
    engine = FakeEngine({(1, "train"): passes(), (1, "evaluate"): passes()})
    record, error = run(repo, engine)
    assert error is None
    state = record.state
    assert state.overall_status == "Succeeded" and state.run.status == "Succeeded" and state.build.status == "Succeeded"
    assert statuses(record) == [(1, "Succeeded", [("train", "Succeeded"), ("evaluate", "Succeeded")])]
    assert state.gate is not None and state.gate.passed and state.gate.attempt == 1
    published = repo / ".mlci" / "artifacts" / "p" / "job-1"
    assert state.publish is not None and state.publish.store == "local"
    assert state.publish.url == state.run.artifact_url == published.resolve().as_uri()
    assert state.publish.digest.startswith("sha256:") and state.publish.config_hash.startswith("sha256:")
    assert (published / "model.bin").read_bytes() == b"weights-1"
    assert engine.calls == ["clean p", "build p", "stage 1 train", "stage 1 evaluate"]
    assert 'failures="0"' in (record.dir / "junit.xml").read_text()


def test_a_failing_stage_fails_the_run_without_a_retrain(repo):
    engine = FakeEngine({(1, "train"): exits(3)})
    record, error = run(repo, engine)
    assert error is None
    assert record.state.overall_status == "Failed" and record.state.run.status == "Failed"
    assert statuses(record) == [(1, "Failed", [("train", "Failed")])]
    assert record.state.attempts[0].stages[0].exit_code == 3
    assert record.state.error == "stage train exited with code 3"
    assert record.state.publish is None


def test_a_stage_that_times_out_is_recorded_as_timed_out(repo):
    record, _ = run(repo, FakeEngine({(1, "train"): times_out}))
    assert statuses(record) == [(1, "Failed", [("train", "Timed Out")])]
    assert record.state.error == "stage train timed out"
    assert '<failure message="Timed Out">' in (record.dir / "junit.xml").read_text()


def test_a_failed_gate_retrains_and_the_next_attempt_links_back(repo):
    engine = FakeEngine(
        {
            (1, "train"): passes(0.5),
            (1, "evaluate"): passes(0.5),
            (2, "train"): passes(0.93),
            (2, "evaluate"): passes(0.93),
        }
    )
    record, error = run(repo, engine)
    assert error is None and record.state.overall_status == "Succeeded"
    first, second = record.state.attempts
    assert first.status == "Failed" and first.gate is not None and not first.gate.passed
    assert second.previous == 1 and second.gate is not None and second.gate.passed
    assert record.state.metrics == {"accuracy": 0.93} and record.state.gate.attempt == 2
    assert record.state.run.output_dir == "attempt-2/out"


def test_a_gate_that_never_passes_fails_after_the_last_attempt(repo):
    engine = FakeEngine({(n, s): passes(0.5) for n in (1, 2) for s in ("train", "evaluate")})
    record, _ = run(repo, engine)
    assert record.state.overall_status == "Failed"
    assert [a.status.value for a in record.state.attempts] == ["Failed", "Failed"]
    assert record.state.error == "accuracy = 0.5 not >= 0.9"


def test_max_attempts_one_stops_after_the_first_failed_gate(repo):
    # project.yaml allows 2; the strict engine has no attempt-2 stages, so a retrain would fail the test
    engine = FakeEngine({(1, "train"): passes(0.5), (1, "evaluate"): passes(0.5)})
    record, error = run(repo, engine, max_attempts=1)
    assert error is None
    assert record.state.overall_status == "Failed" and record.state.max_attempts == 1
    assert statuses(record) == [(1, "Failed", [("train", "Succeeded"), ("evaluate", "Succeeded")])]
    assert record.state.error == "accuracy = 0.5 not >= 0.9"
    assert engine.calls == ["clean p", "build p", "stage 1 train", "stage 1 evaluate"]


def test_max_attempts_three_retrains_beyond_the_project_setting(repo):
    engine = FakeEngine(
        {
            **{(n, s): passes(0.5) for n in (1, 2) for s in ("train", "evaluate")},
            (3, "train"): passes(0.95),
            (3, "evaluate"): passes(0.95),
        }
    )
    record, error = run(repo, engine, max_attempts=3)
    assert error is None and record.state.overall_status == "Succeeded"
    assert record.state.max_attempts == 3
    assert [(a.n, a.status.value, a.previous) for a in record.state.attempts] == [
        (1, "Failed", None),
        (2, "Failed", 1),
        (3, "Succeeded", 2),
    ]
    assert record.state.gate is not None and record.state.gate.attempt == 3
    assert engine.calls[2:] == [f"stage {n} {s}" for n in (1, 2, 3) for s in ("train", "evaluate")]


def test_without_max_attempts_the_record_keeps_the_project_setting(repo):
    engine = FakeEngine({(n, s): passes(0.5) for n in (1, 2) for s in ("train", "evaluate")})
    record, _ = run(repo, engine)
    assert record.state.max_attempts == 2 and len(record.state.attempts) == 2


def test_refused_outputs_fail_the_attempt_without_a_retrain(repo):
    record, _ = run(repo, FakeEngine({(1, "train"): links_out, (1, "evaluate"): exits(0)}))
    [attempt] = record.state.attempts
    assert attempt.status == "Failed" and attempt.gate is None
    assert attempt.outputs is not None and not attempt.outputs.passed and "secret" in attempt.outputs.reason
    assert record.state.overall_status == "Failed" and record.state.publish is None


def test_cancel_while_building_cancels_the_build_and_skips_nothing_else(repo):
    record, error = run(repo, FakeEngine({}, build=KeyboardInterrupt()))
    assert isinstance(error, Cancelled)
    assert record.state.overall_status == "Cancelled" and record.state.build.status == "Cancelled"
    assert record.state.attempts == [] and record.state.error == "cancelled (SIGINT)"
    assert '<skipped message="cancelled"/>' in (record.dir / "junit.xml").read_text()


def test_cancel_in_a_stage_cancels_the_stage_and_its_attempt(repo):
    record, error = run(repo, FakeEngine({(1, "train"): raises(Cancelled("SIGTERM"))}))
    assert isinstance(error, Cancelled) and error.exit_code == 130
    assert statuses(record) == [(1, "Cancelled", [("train", "Cancelled")])]
    assert record.state.overall_status == "Cancelled" and record.state.run.status == "Cancelled"
    assert record.state.error == "cancelled (SIGTERM)"
    assert "<skipped" in (record.dir / "junit.xml").read_text()


def test_a_failed_build_is_build_failed_and_runs_nothing(repo):
    record, error = run(repo, FakeEngine({}, build=BuildFailed("step 3: pip install failed")))
    assert error is None
    assert record.state.overall_status == "Build Failed" and record.state.build.status == "Failed"
    assert record.state.run.status == "Skipped" and record.state.attempts == []


def test_a_publish_that_fails_fails_the_run_and_records_no_publication(repo):
    stages = {(1, "train"): passes(), (1, "evaluate"): passes()}
    run(repo, FakeEngine(stages), job="job-1")
    # the store already holds different outputs under this job id: a second run must not replace them
    published = repo / ".mlci" / "artifacts" / "p" / "job-1" / "model.bin"
    published.write_bytes(b"other weights")
    (repo / ".mlci" / "runs" / "p" / "job-1").rename(repo / "moved")
    record, error = run(repo, FakeEngine(stages), job="job-1")
    assert isinstance(error, MlciError) and "already has different outputs" in str(error)
    assert record.state.overall_status == "Failed" and record.state.publish is None
    assert "already has different outputs" in record.state.error
    assert statuses(record) == [(1, "Succeeded", [("train", "Succeeded"), ("evaluate", "Succeeded")])]


def test_a_full_disk_under_a_stage_log_stops_the_run_naming_the_log(repo):
    def disk_full(spec: StageSpec, out: Path, sink: LogSink) -> StageResult:
        raise LogWriteError(f"cannot write the log {sink.path}: No space left on device")

    record, error = run(repo, FakeEngine({(1, "train"): disk_full}))
    assert isinstance(error, LogWriteError) and error.exit_code == 1
    assert "attempt-1/train.log" in str(error)
    assert statuses(record) == [(1, "Failed", [("train", "Failed")])]
    assert record.state.overall_status == "Failed" and "No space left" in record.state.error


def test_a_full_disk_under_the_record_keeps_its_last_good_state(repo, monkeypatch):
    from mlci.record import store

    real = store.write_text_atomic
    written: list[str] = []

    def fills_up(path, text, **kwargs):
        if len(written) >= 4:  # created, building, built, running — then the disk is full
            raise OSError(28, "No space left on device")
        written.append(text)
        real(path, text, **kwargs)

    monkeypatch.setattr(store, "write_text_atomic", fills_up)
    record, error = run(repo, FakeEngine({(1, "train"): passes(), (1, "evaluate"): passes()}))
    assert isinstance(error, RecordWriteError) and error.exit_code == 1
    assert "status.json" in str(error) and "No space left on device" in str(error)
    assert record.state.overall_status == "Running" and record.state.attempts == []  # the last good save
    assert json.loads(written[-1])["overallStatus"] == "Running"


def test_an_unforeseen_engine_error_is_recorded_as_an_internal_error(repo):
    record, error = run(repo, FakeEngine({(1, "train"): raises(RuntimeError("socket closed"))}))
    assert isinstance(error, RuntimeError)
    assert record.state.overall_status == "Failed"
    assert record.state.error == "internal error: RuntimeError: socket closed"
    assert statuses(record) == [(1, "Failed", [("train", "Failed")])]


def test_an_exact_image_skips_the_build(repo):
    engine = FakeEngine({(1, "train"): passes(), (1, "evaluate"): passes()})
    record, error = run(repo, engine, image="registry.example/p@sha256:" + "2" * 64)
    assert error is None and "build p" not in engine.calls
    assert record.state.build.status == "Skipped" and record.state.build.image_id == "sha256:" + "2" * 64


def reads_config(seen: list[bytes]) -> Action:
    def act(spec: StageSpec, out: Path, sink: LogSink) -> StageResult:
        [config] = [Path(src) for src, bind in spec.binds.items() if bind["bind"] == contract.CONTAINER_CONFIG]
        assert spec.binds[str(config)]["mode"] == "ro" and spec.env["MLCI_CONFIG"] == contract.CONTAINER_CONFIG
        seen.append(config.read_bytes())
        return passes()(spec, out, sink)

    return act


def test_an_experiment_sees_its_overrides_is_recorded_and_never_published(repo):
    from mlci.run.overrides import parse_set

    seen: list[bytes] = []
    engine = FakeEngine({(1, "train"): reads_config(seen), (1, "evaluate"): passes()})
    record, error = run(repo, engine, experiment="lr-sweep", overrides=parse_set(["lr=0.01"]))
    assert error is None and record.state.overall_status == "Succeeded"
    assert seen == [b"lr: 0.01\n"] and (repo / "projects" / "p" / "config.yaml").read_text() == "lr: 0.1\n"
    assert record.state.experiment is not None and record.state.experiment.name == "lr-sweep"
    assert record.state.experiment.overrides == {"lr": 0.01}
    assert record.state.config_hash == "sha256:" + hashlib.sha256(b"lr: 0.01\n").hexdigest()
    assert record.path("config.yaml").read_bytes() == b"lr: 0.01\n"
    assert record.state.publish is None and not (repo / ".mlci" / "artifacts").exists()
    assert record.state.run.artifact_url == record.path("attempt-1/out").resolve().as_uri()


def test_a_release_run_mounts_the_project_config_byte_for_byte(repo):
    seen: list[bytes] = []
    record, _ = run(repo, FakeEngine({(1, "train"): reads_config(seen), (1, "evaluate"): passes()}))
    assert seen == [b"lr: 0.1\n"] and record.state.experiment is None
    assert record.state.config_hash == record.state.publish.config_hash


@pytest.mark.parametrize(
    "options, message",
    [
        ({"overrides": "lr=0.2"}, "--set needs --experiment NAME"),
        ({"experiment": "bad name", "overrides": "lr=0.2"}, "experiment name 'bad name' is not valid"),
        ({"experiment": "e\n", "overrides": "lr=0.2"}, "is not valid"),
        ({"experiment": "e", "overrides": "lr=abc"}, "--set gives 'abc', which is text"),
        ({"experiment": "e", "push": True}, "never published or pushed"),
    ],
)
def test_a_bad_experiment_is_refused_before_a_job_is_claimed(repo, options, message):
    from mlci.run.overrides import parse_set

    if "overrides" in options:
        options["overrides"] = parse_set([options["overrides"]])
    machine = ProjectRun(
        FakeEngine({}),
        repo,
        load_manifest(repo),
        load_project(repo, "p"),
        RunOptions(echo=False, **options),
        say=lambda line: None,
        cache_dir=repo / "cache",
    )
    with pytest.raises(MlciError, match=message) as err:
        machine.execute()
    assert err.value.exit_code == 2
    assert not (repo / ".mlci" / "runs" / "p").exists() or not any((repo / ".mlci" / "runs" / "p").iterdir())


def test_a_rerun_reuses_the_image_and_config_and_links_back(repo):
    seen: list[bytes] = []
    kept = repo / "kept-config.yaml"
    kept.write_bytes(b"lr: 0.5\n")
    engine = FakeEngine({(1, "train"): reads_config(seen), (1, "evaluate"): passes()})
    record, error = run(
        repo,
        engine,
        job="job-1-rerun",
        image="sha256:" + "2" * 64,
        config_from=kept,
        rerun_of="job-1",
        experiment="lr-sweep",
        recorded_overrides={"lr": 0.5},
    )
    assert error is None and seen == [b"lr: 0.5\n"] and "build p" not in engine.calls
    assert record.state.rerun_of == "job-1" and record.state.experiment.overrides == {"lr": 0.5}
    assert record.state.publish is None


def test_a_retrain_sees_the_previous_attempt_read_only_with_its_verdict(repo):
    seen: dict[str, str] = {}

    def second(spec: StageSpec, out: Path, sink: LogSink) -> StageResult:
        [previous] = [Path(src) for src, bind in spec.binds.items() if bind["bind"] == contract.CONTAINER_PREVIOUS]
        assert spec.binds[str(previous)]["mode"] == "ro"
        assert (previous / "model.bin").read_bytes() == b"weights-1"
        seen.update({k: v for k, v in spec.env.items() if k.startswith("MLCI_PREVIOUS")})
        return passes(0.95)(spec, out, sink)

    def first_has_no_previous(spec: StageSpec, out: Path, sink: LogSink) -> StageResult:
        assert contract.CONTAINER_PREVIOUS not in {b["bind"] for b in spec.binds.values()}
        assert not any(k.startswith("MLCI_PREVIOUS") for k in spec.env)
        return passes(0.5)(spec, out, sink)

    engine = FakeEngine(
        {
            (1, "train"): first_has_no_previous,
            (1, "evaluate"): passes(0.5),
            (2, "train"): second,
            (2, "evaluate"): second,
        }
    )
    record, error = run(repo, engine)
    assert error is None and record.state.overall_status == "Succeeded"
    assert seen == {
        "MLCI_PREVIOUS_DIR": "/mlci/previous",
        "MLCI_PREVIOUS_ATTEMPT": "1",
        "MLCI_PREVIOUS_METRICS": '{"accuracy":0.5}',
        "MLCI_PREVIOUS_GATE": "accuracy = 0.5 not >= 0.9",
    }
    assert record.state.attempts[1].previous == 1


def test_feedback_that_holds_a_link_is_not_mounted(repo):
    def plant_link(line: str) -> None:
        if "retraining" in line:  # between the attempts: attempt 1's outputs gain a link
            (repo / ".mlci" / "runs" / "p" / "job-1" / "attempt-1" / "out" / "escape").symlink_to("/etc")

    engine = FakeEngine({(1, "train"): passes(0.5), (1, "evaluate"): passes(0.5), (2, "train"): passes()})
    machine = ProjectRun(
        engine,
        repo,
        load_manifest(repo),
        load_project(repo, "p"),
        RunOptions(job_id="job-1", echo=False),
        say=plant_link,
        cache_dir=repo / "cache",
    )
    with pytest.raises(MlciError, match="escape"):
        machine.execute()
    record = RunRecord.load(repo / ".mlci" / "runs" / "p" / "job-1")
    assert record.state.overall_status == "Failed" and "stage 2 train" not in engine.calls
    assert record.state.attempts[1].status == "Failed"


class GpuEngine(FakeEngine):
    """A host whose plan gives the project two GPUs; records what each stage and service asked for."""

    def __init__(self, stages: dict[tuple[int, str], Action]):
        super().__init__(stages)
        self.requests: dict[str, object] = {}

    def plan_gpus(self, request: GpuRequest) -> GpuPlan:
        return GpuPlan(device_request="two-gpus", devices="0,1", uuids=("GPU-a", "GPU-b"))

    def run_stage(self, spec: StageSpec, sink: LogSink, services: list, network: str) -> StageResult:
        self.requests[spec.name] = (spec.image, spec.device_request)
        self.requests.update({f"{spec.name}.{s.name}": (s.image, s.device_request) for s in services})
        return super().run_stage(spec, sink, services, network)


def test_per_stage_gpus_images_and_services_reach_the_engine(repo):
    (repo / "projects" / "p" / "project.yaml").write_text(
        "gpus: 2\nstages:\n"
        "  - {name: train, run: ./run.sh}\n"
        "  - name: simulate\n    run: ./sim.sh\n    gpus: none\n"
        "    services:\n      sim: {image: 'project:p', command: ./serve.sh, gpus: inherit}\n"
        "  - name: render\n    run: ./render.sh\n"
        "    services:\n      gl: {image: 'project:p', gpus: inherit}\n      db: {image: 'project:p'}\n"
        "  - {name: evaluate, run: python eval.py, gpus: none, image: 'busybox@sha256:" + "3" * 64 + "'}\n"
        "gate: {metric: accuracy, min: 0.9}\n"
    )
    stages = {(1, "train"): passes(), (1, "simulate"): exits(0), (1, "render"): exits(0), (1, "evaluate"): exits(0)}
    engine = GpuEngine(stages)
    record, error = run(repo, engine)
    assert error is None and record.state.overall_status == "Succeeded"
    assert engine.requests == {
        "train": ("mlci/p:c0ffee", "two-gpus"),
        "simulate": ("mlci/p:c0ffee", None),  # the stage's own `gpus: none` wins over the project's 2
        "simulate.sim": ("mlci/p:c0ffee", None),  # inherits the stage's GPUs: none
        "render": ("mlci/p:c0ffee", "two-gpus"),
        "render.gl": ("mlci/p:c0ffee", "two-gpus"),  # shares the stage's lease
        "render.db": ("mlci/p:c0ffee", None),  # a service holds no GPU unless it says `gpus: inherit`
        "evaluate": ("sha256:" + "2" * 64, None),  # a pinned reference, resolved to what ran
    }
    assert "stage 1 render +gl +db" in engine.calls
    assert record.state.images["busybox@sha256:" + "3" * 64] == "sha256:" + "2" * 64
    assert record.state.attempts[0].stages[3].image == "sha256:" + "2" * 64
