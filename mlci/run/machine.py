"""One project's run as a state machine: build (or reuse) the image, run the stages, judge the
gate, retrain up to the limit, publish locally, and keep the run record true at every transition.

The Docker side is injected (mlci.run.engine_port.RunEngine), so every exit path — a stage that
fails or times out, a gate that fails then passes, refused outputs, a cancel while building or
in a stage, a failed publish, a full disk under a log or the record — is unit-tested without an
engine. Whatever the path, the record ends closed with each part's true state."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from mlci.atomic import write_bytes_atomic
from mlci.boundary import BoundaryError, scan_outputs
from mlci.contract import JOB_ID_RE
from mlci.errors import Cancelled, MlciError, UsageError
from mlci.git import head_commit, is_dirty
from mlci.manifest import Manifest, ProjectSpec, load_project
from mlci.progress import Phases
from mlci.publish import publishing
from mlci.record.history import CONFIG_COPY
from mlci.record.model import Attempt, AttemptStatus, Experiment, GpuUse, RunStatus, ServiceUse, StageStatus
from mlci.record.store import RecordWriteError, RunRecord, check_names, claim_job_dir
from mlci.run.engine_port import RunEngine
from mlci.run.gate import judge, read_metrics
from mlci.run.junit import write_junit
from mlci.run.overrides import EffectiveConfig, Override, effective_config
from mlci.run.ownership import default_job_base
from mlci.run.stage_contract import Feedback, StageInputs, network_name, sidecar_specs, stage_spec
from mlci.runner.gpus import GpuRequest, parse_gpus
from mlci.runner.image import BuildFailed
from mlci.runner.logsink import LogSink
from mlci.runner.sidecars import SidecarFailed, SidecarOutcome
from mlci.runner.stage_cache import ensure_cache_dir
from mlci.secrets import redact, remember


@dataclass
class RunOptions:
    job_id: str | None = None
    gpus: GpuRequest | None = None  # None: the project's setting
    no_cache: bool = False
    echo: bool = True  # stream logs to the console
    verbose: bool = False  # the image build's full output too, not one progress line
    image: str | None = None  # run this image (tag, id or REPO@sha256:…) instead of building
    push: bool = False  # push the image to build.registry after a passing run
    experiment: str | None = None  # an experiment run: recorded with its overrides, never published
    overrides: list[Override] = field(default_factory=list)
    config_from: Path | None = None  # rerun: this effective config instead of the project's
    rerun_of: str | None = None  # rerun: the job reproduced (never published again)
    recorded_overrides: dict[str, Any] | None = None  # rerun of an experiment: the overrides it had
    default_job: str | None = None  # the base of the job id when none is given (default: the commit)
    max_attempts: int | None = None  # None: project.yaml's retrain.max_attempts


def say(message: str) -> None:
    """mlci's own progress lines go to stderr (secrets masked), apart from the stages' output on stdout."""
    click.echo(redact(f"mlci: {message}"), err=True)


class ProjectRun:
    def __init__(
        self,
        engine: RunEngine,
        root: Path,
        manifest: Manifest,
        spec: ProjectSpec,
        options: RunOptions,
        *,
        say: Callable[[str], None] = say,
        cache_dir: Path | None = None,
    ):
        self.engine = engine
        self.root = root
        self.manifest = manifest
        self.spec = spec
        self.options = options
        self.say = say
        self.cache_dir = cache_dir
        self.record: RunRecord | None = None

    def execute(self) -> RunRecord:
        spec, opts = self.spec, self.options
        self.engine.clean_leftovers(self.root, spec.name, self.say)
        if opts.experiment is not None and not JOB_ID_RE.fullmatch(opts.experiment):
            raise UsageError(
                f"experiment name {opts.experiment[:80]!r} is not valid",
                hint="use letters, digits, '.', '_' and '-' (max 128), as for job ids",
            )
        if opts.experiment is not None and opts.push:
            raise UsageError("an experiment run is never published or pushed", hint="drop --push, or --experiment")
        if opts.push and not self.manifest.build.registry:
            raise UsageError(
                "--push needs build.registry in mlci.yaml", hint="add e.g. `build: {registry: ghcr.io/acme}`"
            )
        check_names(spec.name, opts.job_id)
        request = opts.gpus or parse_gpus(spec.config.gpus)
        gpu_plan = self.engine.plan_gpus(request)
        if gpu_plan.notice:
            self.say(gpu_plan.notice)
        config = self._effective_config()  # before the job is claimed: a bad --set leaves nothing behind
        secrets_env = _project_secrets(spec)
        cache_dir = self.cache_dir or ensure_cache_dir(self.manifest.runner.cache_dir)
        commit = head_commit(self.root)
        # claimed last, after every check that can refuse the run: no empty job directory is left behind
        job_id, _ = claim_job_dir(
            self.root,
            spec.name,
            opts.job_id or opts.default_job or default_job_base(self.root),
            next_free=opts.job_id is None,
        )
        record = self.record = RunRecord.create(
            self.root,
            spec.name,
            job_id,
            claimed=True,
            commit=commit,
            dirty=is_dirty(self.root, f"projects/{spec.name}") if commit else None,
            gpus=GpuUse(requested=request.describe(), devices=gpu_plan.devices, uuids=list(gpu_plan.uuids)),
            config_hash=config.sha256 if config else None,
            experiment=Experiment(
                name=opts.experiment,
                overrides=opts.recorded_overrides or {o.key: o.value for o in opts.overrides},
            )
            if opts.experiment is not None
            else None,
            rerun_of=opts.rerun_of,
            max_attempts=opts.max_attempts or spec.config.retrain.max_attempts,
        )
        config_path = record.path(CONFIG_COPY) if config else None
        if config_path is not None:
            write_bytes_atomic(config_path, config.content, mode=0o644)
        # relative in a checkout; absolute when MLCI_RUNS_DIR puts records on the host
        shown = record.dir.relative_to(self.root) if record.dir.is_relative_to(self.root) else record.dir
        self.say(f"{spec.name}: job {job_id} → {shown}")
        try:
            image = self._build(record)
            if image is not None:
                images = self._other_images(record, image)
                inputs = StageInputs(
                    self.root, self.manifest, spec, job_id, image, gpu_plan, secrets_env, cache_dir, config_path, images
                )
                self._attempts(record, inputs)
            return record
        except (KeyboardInterrupt, Cancelled) as exc:
            how = "SIGTERM" if isinstance(exc, Cancelled) else "SIGINT"
            with contextlib.suppress(RecordWriteError):  # a full disk keeps the last good record
                self._finish(record, RunStatus.CANCELLED, f"cancelled ({how})")
            raise Cancelled(f"{spec.name}: job {job_id} cancelled; record at {record.dir}") from None
        except Exception as exc:  # MlciError, or an engine error we did not foresee: the record must say so
            message = str(exc) if isinstance(exc, MlciError) else f"internal error: {type(exc).__name__}: {exc}"
            building = record.state.overall_status == RunStatus.BUILDING
            with contextlib.suppress(RecordWriteError):  # a full disk keeps the last good record
                self._finish(record, RunStatus.BUILD_FAILED if building else RunStatus.FAILED, message)
            raise
        finally:
            with contextlib.suppress(OSError):  # a full disk must not hide the error that ended the run
                write_junit(record)

    def _effective_config(self) -> EffectiveConfig | None:
        opts = self.options
        if opts.config_from is not None:  # a rerun sees the exact bytes the original run saw
            content = opts.config_from.read_bytes()
            return EffectiveConfig(content, "sha256:" + hashlib.sha256(content).hexdigest())
        if opts.overrides and opts.experiment is None:
            raise UsageError("--set needs --experiment NAME", hint="an override makes the run an experiment")
        return effective_config(self.spec.path, self.spec.name, opts.overrides)

    # -------------------------------------------------------------- build
    def _build(self, record: RunRecord) -> str | None:
        state = record.state
        if self.options.image:
            image_id = self.engine.resolve(self.options.image)
            state.build.use_image(self.options.image, image_id)
            record.save()
            self.say(f"{self.spec.name}: using image {self.options.image} ({image_id[:19]}); build skipped")
            return image_id
        state.begin_build()
        record.save()
        started = time.monotonic()
        log_path = record.path(state.build.log)
        # the console gets one line per phase; the full build output is in build.log (and with -v on the console)
        with LogSink(log_path, echo=self.options.echo and self.options.verbose) as sink:
            try:
                image = self.engine.build(
                    self.spec.name,
                    self.spec.path,
                    self.manifest.build,
                    no_cache=self.options.no_cache,
                    log=sink.write,
                    phases=Phases(verbose=self.options.verbose) if self.options.echo else None,
                    log_path=log_path,
                )
            except BuildFailed as exc:
                state.build.fail(_since(started))
                self._finish(record, RunStatus.BUILD_FAILED, str(exc))
                self.say(f"{self.spec.name}: build failed — log: {log_path}")
                return None
        state.build.succeed(
            image_uri=image.tag,
            image_id=image.image_id,
            cache_hit=image.cache_hit,
            context_hash=image.context_hash,
            duration_s=_since(started),
        )
        record.save()
        return image.tag

    def _other_images(self, record: RunRecord, image: str) -> dict[str, str]:
        """What each `image:` of a stage or service runs: this project's image, another project's
        (built or reused like this one's), or a pinned reference (pulled when absent)."""
        config = self.spec.config
        stages = config.stages
        refs = {s.image for s in stages if s.image}
        refs |= {svc.image for svc in config.services.values()}
        refs |= {svc.image for s in stages for svc in s.services.values()}
        images: dict[str, str] = {}
        log_path = record.path(record.state.build.log)
        with LogSink(log_path, echo=self.options.echo and self.options.verbose) as sink:
            for ref in sorted(refs):
                name = ref.removeprefix("project:")
                if name == self.spec.name:
                    images[ref] = image
                elif ref.startswith("project:"):
                    other = load_project(self.root, name)
                    images[ref] = self.engine.build(
                        other.name,
                        other.path,
                        self.manifest.build,
                        no_cache=self.options.no_cache,
                        log=sink.write,
                        phases=Phases(verbose=self.options.verbose) if self.options.echo else None,
                        log_path=log_path,
                    ).tag
                else:
                    images[ref] = self.engine.resolve(ref)
        if images:
            record.state.images = images
            record.save()
        return images

    # -------------------------------------------------------------- stages, gate, retrain
    def _attempts(self, record: RunRecord, inputs: StageInputs) -> None:
        name, state = self.spec.name, record.state
        max_attempts = state.max_attempts or self.spec.config.retrain.max_attempts
        state.begin_running()
        record.save()
        for n in range(1, max_attempts + 1):
            attempt = self._attempt(record, inputs)
            if attempt.status != AttemptStatus.SUCCEEDED:
                if attempt.retrainable and n < max_attempts:
                    assert attempt.gate is not None
                    self.say(f"{name}: gate failed on attempt {n}/{max_attempts} ({attempt.gate.reason}); retraining")
                    continue
                reason = attempt.error or (attempt.gate.reason if attempt.gate else None) or "failed"
                self._finish(record, RunStatus.FAILED, reason)
                return
            self._publish_local(record)
            if self.options.push:
                assert self.manifest.build.registry  # checked before the run started
                self.say(f"{name}: pushed {self.engine.push(record, self.manifest.build.registry)}")
            self._finish(record, RunStatus.SUCCEEDED, None)
            return

    def _attempt(self, record: RunRecord, inputs: StageInputs) -> Attempt:
        name, state = self.spec.name, record.state
        attempt = state.begin_attempt()
        feedback = self._feedback(record, attempt)
        out_dir = record.path(attempt.output_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        record.save()
        for stage in self.spec.config.stages:
            entry = state.begin_stage(attempt, stage.name)
            record.save()
            self.say(f"{name}: attempt {attempt.n} stage {stage.name}: {stage.run}")
            container = stage_spec(inputs, stage, attempt.n, out_dir, feedback)
            if stage.image:
                entry.image = container.image
            services = sidecar_specs(inputs, stage, attempt.n, record.path(f"attempt-{attempt.n}"))
            network = network_name(inputs, stage, attempt.n)
            try:
                with LogSink(record.path(entry.log), echo=self.options.echo, secrets=inputs.secrets.values()) as sink:
                    result = self.engine.run_stage(container, sink, services, network)
            except (KeyboardInterrupt, Cancelled) as exc:
                # execute() closes this stage and attempt as Cancelled (Cancelled is an MlciError too)
                entry.services = [_service_use(attempt.n, stage.name, o) for o in getattr(exc, "services", [])]
                raise
            except SidecarFailed as exc:  # a service never got ready: the attempt fails, no retrain
                entry.services = [_service_use(attempt.n, stage.name, o) for o in exc.outcomes]
                entry.fail(str(exc))
                attempt.fail(str(exc).splitlines()[0])
                record.save()
                self.say(f"{name}: attempt {attempt.n} stage {stage.name}: {exc}")
                return attempt
            except MlciError as exc:
                entry.fail(str(exc), getattr(exc, "device_requests", None))
                attempt.fail(str(exc))
                record.save()
                raise
            entry.services = [_service_use(attempt.n, stage.name, o) for o in result.services]
            entry.finish(StageStatus(result.status), result.exit_code, result.duration_s, result.device_requests)
            record.save()
            if entry.status != StageStatus.SUCCEEDED:
                why = "timed out" if entry.status == StageStatus.TIMED_OUT else f"exited with code {result.exit_code}"
                attempt.fail(f"stage {stage.name} {why}")
                record.save()
                self.say(f"{name}: stage {stage.name} {why} — log: {record.path(entry.log)}")
                return attempt
        try:  # what the stages left must be fit to cross the boundary before the gate can pass it
            files = scan_outputs(out_dir, max_bytes=self.manifest.runner.max_output_size)
            attempt.accept_outputs(len(files), sum(f.size for f in files))
        except BoundaryError as exc:
            attempt.refuse_outputs(str(exc))
            record.save()
            self.say(f"{name}: attempt {attempt.n}: {exc}")
            return attempt
        metrics, metrics_error, rejected = read_metrics(out_dir)
        verdict = judge(self.spec.config.gate, metrics, metrics_error, rejected)
        attempt.judge(verdict, metrics, rejected)
        state.adopt(attempt)
        record.save()
        shown = ", ".join(f"{k}={v:g}" for k, v in sorted(metrics.items())) or "no metrics"
        self.say(
            f"{name}: attempt {attempt.n}: {shown}; gate: {verdict.reason} → {'PASS' if verdict.passed else 'FAIL'}"
        )
        return attempt

    @staticmethod
    def _feedback(record: RunRecord, attempt: Attempt) -> Feedback | None:
        """Attempt n retrains after attempt n-1's failed gate: it sees that attempt's outputs and verdict."""
        if attempt.previous is None:
            return None
        previous = record.state.attempts[attempt.previous - 1]
        return Feedback(
            attempt=previous.n,
            out_dir=record.path(previous.output_dir),
            metrics=previous.metrics,
            gate_reason=previous.gate.reason if previous.gate else "",
        )

    # -------------------------------------------------------------- outcome
    def _publish_local(self, record: RunRecord) -> None:
        """The passing attempt's outputs go to the default store when it is a local one (the same
        publication `mlci publish` records); otherwise — another store, an experiment, a rerun —
        the artifact is where the record keeps it."""
        default = self.manifest.artifacts.default
        release = record.state.experiment is None and record.state.rerun_of is None
        if release and self.manifest.artifacts.stores[default].type == "local":
            publishing.publish(self.root, self.manifest, record, default)
        else:
            record.state.run.artifact_url = publishing.outputs_of(record).as_uri()
            record.save()

    def _finish(self, record: RunRecord, status: RunStatus, error: str | None) -> None:
        if not record.active:
            return  # closed already (a build failure closes before it returns)
        record.close(status, redact(error) if error else None)  # a stage may have echoed a secret


def _service_use(attempt: int, stage: str, outcome: SidecarOutcome) -> ServiceUse:
    return ServiceUse(
        name=outcome.name,
        image=outcome.image,
        status=outcome.status,
        error=outcome.error,
        log=f"attempt-{attempt}/{outcome.log}",
    )


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def _project_secrets(spec: ProjectSpec) -> dict[str, str]:
    missing = [name for name in spec.config.secrets if not os.environ.get(name)]
    if missing:
        raise UsageError(
            f"{spec.name} needs secrets that are not set: {', '.join(missing)}",
            hint="export them in the environment (or bind them as Jenkins credentials)",
        )
    values = {name: os.environ[name] for name in spec.config.secrets}
    for value in values.values():  # masked on every output path, whatever the secret's name
        remember(value)
    return values
