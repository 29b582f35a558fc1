"""One project's run: build (or reuse) the image, run the stages per the container contract,
judge the gate, retrain up to the limit, and keep the run record true at every transition."""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from xml.sax.saxutils import escape, quoteattr

from mlci import records
from mlci.atomic import write_text_atomic
from mlci.boundary import BoundaryError, check_input_file, scan_outputs
from mlci.cache import ensure_cache_dir
from mlci.errors import Cancelled, MlciError, UsageError
from mlci.gitinfo import head_commit, is_dirty
from mlci.manifest import Manifest, ProjectSpec
from mlci.manifest.schema import Gate
from mlci.records import RunRecord
from mlci.runner.container import StageSpec, remove_container, run_stage
from mlci.runner.engine import has_nvidia_runtime
from mlci.runner.gpus import GpuRequest, cdi_requested, control_device_nodes, load_inventory, plan_gpus
from mlci.runner.image import BuildFailed, build_image
from mlci.runner.logsink import LogSink
from mlci.secrets import redact, remember

if TYPE_CHECKING:
    import docker

CONTAINER_OUT = "/mlci/out"
CONTAINER_CACHE = "/mlci/cache"
CONTAINER_CONFIG = "/mlci/config.yaml"


@dataclass
class RunOptions:
    job_id: str | None = None
    gpus: GpuRequest | None = None  # None: the project's setting
    no_cache: bool = False
    echo: bool = True  # stream logs to the console
    verbose: bool = False  # the image build's full output too, not one progress line
    image: str | None = None  # run this image (tag, id or REPO@sha256:…) instead of building
    push: bool = False  # push the image to build.registry after a passing run


def say(message: str) -> None:
    """mlci's own progress lines go to stderr (secrets masked), apart from the stages' output on stdout."""
    import click

    click.echo(redact(f"mlci: {message}"), err=True)


# ------------------------------------------------------------------ job ids and leftovers


def default_job_base(root: Path) -> str:
    """Short commit hash, `-dirty` when the tree has changes (claim_job_dir adds `-N` when taken)."""
    commit = head_commit(root)
    base = commit[:8] if commit else time.strftime("run-%Y%m%d-%H%M%S", time.gmtime())
    if commit and is_dirty(root):
        base += "-dirty"
    return base


def owner_labels(root: Path) -> dict[str, str]:
    """Who owns a stage container: the mlci process (host, pid, start time, boot) and the checkout.
    Cleanup trusts these, not the project name, so runs of the same project from two checkouts
    on one host (two Jenkins workspaces, a developer's clone) never remove each other's containers."""
    owner = records.current_owner()
    return {
        "mlci.owner.host": owner["host"],
        "mlci.owner.pid": str(owner["pid"]),
        "mlci.owner.start": str(owner["startTicks"]),
        "mlci.owner.boot": owner["boot"] or "",
        "mlci.checkout": str(root),
    }


def _owner_from_labels(labels: dict[str, str]) -> dict[str, Any] | None:
    if "mlci.owner.pid" not in labels:
        return None
    start = labels.get("mlci.owner.start", "")
    return {
        "host": labels.get("mlci.owner.host"),
        "pid": labels["mlci.owner.pid"],
        "startTicks": int(start) if start.isdigit() else None,
        "boot": labels.get("mlci.owner.boot") or None,
    }


def clean_leftovers(client: docker.DockerClient, root: Path, project: str, say: Any) -> None:
    """Remove containers of `project` whose owning mlci process is provably dead (SIGKILL, OOM,
    reboot). A container whose owner is alive, or cannot be checked from here, is never touched."""
    removed: dict[str, int] = {}
    for info in client.api.containers(all=True, filters={"label": [f"mlci.project={project}"]}):
        labels = info.get("Labels") or {}
        job = labels.get("mlci.job") or "?"
        owner = _owner_from_labels(labels)
        if owner is None:
            # made by an mlci without owner labels: only a finished record in this checkout vouches for it
            if not records.JOB_ID_RE.fullmatch(job):
                continue
            directory = records.runs_dir(root, project) / job
            record = RunRecord.load(directory) if (directory / records.STATUS_FILE).is_file() else None
            if record is None or record.status in records.ACTIVE:
                continue
        elif records.owner_alive(owner):
            continue
        remove_container(client.api, info["Id"])
        removed[job] = removed.get(job, 0) + 1
    for job, count in sorted(removed.items()):
        say(f"removed {count} leftover container(s) of interrupted job {job}")
    for record in records.iter_records(root, project):
        if record.data["overallStatus"] in records.ACTIVE and record.status == records.INTERRUPTED:
            record.mark_interrupted()


# ------------------------------------------------------------------ metrics and gate


METRICS_MAX_BYTES = 1 << 20
_METRIC_NAME = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,128}")


class MetricsRead(NamedTuple):
    values: dict[str, float]  # the finite numbers
    error: str | None  # the file as a whole is unusable (not JSON, duplicate keys, a link, ...)
    rejected: dict[str, str]  # key → why its value is not used (a string, null, NaN, too large)


def read_metrics(out_dir: Path) -> MetricsRead:
    """metrics.json as a flat {name: finite number}, and precise reasons for whatever is not.

    metrics.json is written by the stage (other people's code), so it is read like any output:
    never through a link, bounded in size and nesting, duplicate keys refused (JSON's last-wins
    would let a later `accuracy` silently replace the one the gate should judge).
    """
    from mlci.boundary import read_small_file

    raw = read_small_file(out_dir / "metrics.json", max_bytes=METRICS_MAX_BYTES)
    if raw == "not written":
        return MetricsRead({}, None, {})
    if isinstance(raw, str):
        return MetricsRead(
            {}, f"metrics.json is {raw} — write a JSON object of numbers to $MLCI_OUTPUT_DIR/metrics.json", {}
        )
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_refuse_duplicates)
    except _MetricsProblem as exc:
        return MetricsRead({}, f"metrics.json: {exc}", {})
    except RecursionError:
        return MetricsRead({}, 'metrics.json is nested too deeply — write a flat object such as {"accuracy": 0.93}', {})
    except (ValueError, UnicodeDecodeError) as exc:
        return MetricsRead({}, f"metrics.json is not valid JSON ({exc})", {})
    if not isinstance(data, dict):
        return MetricsRead({}, f"metrics.json must be a flat JSON object of numbers, not {_json_kind(data)}", {})
    metrics: dict[str, float] = {}
    rejected: dict[str, str] = {}
    for key, value in data.items():
        if not _METRIC_NAME.fullmatch(key):  # printed on consoles and in Slack: no control characters
            rejected[key.encode("unicode_escape").decode()[:140]] = "a name with control characters or over 128 long"
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            rejected[key] = f"{_json_kind(value)}, not a number"
            continue
        try:
            number = float(value)
        except OverflowError:
            rejected[key] = "too large for a number"
            continue
        if not math.isfinite(number):
            rejected[key] = f"{number}, not a finite number"
            continue
        metrics[key] = number
    return MetricsRead(metrics, None, rejected)


class _MetricsProblem(ValueError):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _MetricsProblem(f"duplicate key {key!r} — write each metric once")
        out[key] = value
    return out


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def judge(
    gate: Gate | None, metrics: dict[str, float], metrics_error: str | None, rejected: dict[str, str] | None = None
) -> dict[str, Any]:
    if gate is None:
        return {"metric": None, "op": None, "threshold": None, "value": None, "passed": True, "reason": "no gate"}
    op, threshold = (">=", gate.min) if gate.min is not None else ("<=", gate.max)
    verdict: dict[str, Any] = {"metric": gate.metric, "op": op, "threshold": threshold, "value": None}
    if metrics_error:
        return {**verdict, "passed": False, "reason": metrics_error}
    if rejected and gate.metric in rejected:
        return {
            **verdict,
            "passed": False,
            "reason": f"metric '{gate.metric}' in metrics.json is {rejected[gate.metric]}",
        }
    if gate.metric not in metrics:
        reason = f"metric '{gate.metric}' missing from metrics.json" + (
            f" (has: {', '.join(sorted(metrics))})" if metrics else " (no metrics.json written)"
        )
        return {**verdict, "passed": False, "reason": reason}
    value = metrics[gate.metric]
    passed = gate.passes(value)
    return {
        **verdict,
        "value": value,
        "passed": passed,
        "reason": f"{gate.metric} = {value:g} {'' if passed else 'not '}{op} {threshold:g}",
    }


# ------------------------------------------------------------------ the run


class ProjectRun:
    def __init__(
        self,
        client: docker.DockerClient,
        root: Path,
        manifest: Manifest,
        spec: ProjectSpec,
        options: RunOptions,
    ):
        self.client = client
        self.root = root
        self.manifest = manifest
        self.spec = spec
        self.options = options
        self.say = say
        self.record: RunRecord | None = None

    def execute(self) -> RunRecord:
        spec, opts = self.spec, self.options
        clean_leftovers(self.client, self.root, spec.name, self.say)
        if opts.push and not self.manifest.build.registry:
            raise UsageError(
                "--push needs build.registry in mlci.yaml", hint="add e.g. `build: {registry: ghcr.io/acme}`"
            )
        records.check_names(spec.name, opts.job_id)
        request = opts.gpus or _project_gpus(spec)
        # only `auto` needs to know the engine's runtimes (docker info is one of the slower calls)
        gpu_plan = plan_gpus(
            request,
            request.mode == "auto" and has_nvidia_runtime(self.client),
            load_inventory() if request.mode != "none" else None,
            cdi=cdi_requested(),
            control_nodes=control_device_nodes(),
        )
        if gpu_plan.notice:
            self.say(gpu_plan.notice)
        secrets_env = _project_secrets(spec)
        commit = head_commit(self.root)
        # claimed last, after every check that can refuse the run: no empty job directory is left behind
        job_id, _ = records.claim_job_dir(
            self.root, spec.name, opts.job_id or default_job_base(self.root), next_free=opts.job_id is None
        )
        record = self.record = RunRecord.create(
            self.root,
            spec.name,
            job_id,
            claimed=True,
            commit=commit,
            dirty=is_dirty(self.root, f"projects/{spec.name}") if commit else None,
            gpus={"requested": request.describe(), "devices": gpu_plan.devices, "uuids": list(gpu_plan.uuids)},
        )
        # relative in a checkout; absolute when MLCI_RUNS_DIR puts records on the host
        shown = record.dir.relative_to(self.root) if record.dir.is_relative_to(self.root) else record.dir
        self.say(f"{spec.name}: job {job_id} → {shown}")
        try:
            image_tag = self._build(record)
            if image_tag is None:
                return record
            self._attempts(record, image_tag, gpu_plan, secrets_env)
            return record
        except (KeyboardInterrupt, Cancelled) as exc:
            how = "SIGTERM" if isinstance(exc, Cancelled) else "SIGINT"
            self._finish(record, records.CANCELLED, f"cancelled ({how})")
            raise Cancelled(f"{spec.name}: job {job_id} cancelled; record at {record.dir}") from None
        except Exception as exc:  # MlciError, or an engine error we did not foresee: the record must say so
            message = str(exc) if isinstance(exc, MlciError) else f"internal error: {type(exc).__name__}: {exc}"
            building = record.data["build"]["status"] == "Running"
            self._finish(record, records.BUILD_FAILED if building else records.FAILED, message)
            raise
        finally:
            _write_junit(record, spec)

    # -------------------------------------------------------------- build
    def _build(self, record: RunRecord) -> str | None:
        if self.options.image:
            return self._use_given_image(record)
        build = self.manifest.build
        record.data["overallStatus"] = records.BUILDING
        record.data["build"].update(status="Running", startedAt=records.now())
        record.save()
        started = time.monotonic()
        args = {"PIP_INDEX_URL": build.pip_index_url} if build.pip_index_url else {}
        from mlci.progress import Phases

        # the console gets one line per phase; the full build output is in build.log (and with -v on the console)
        with LogSink(record.path("build.log"), echo=self.options.echo and self.options.verbose) as sink:
            try:
                image = build_image(
                    self.client,
                    project=self.spec.name,
                    context=self.spec.path,
                    base_image=build.base_image,
                    network=build.network,
                    build_args=args,
                    no_cache=self.options.no_cache,
                    log=sink.write,
                    phases=Phases(verbose=self.options.verbose) if self.options.echo else None,
                    log_path=record.path("build.log"),
                )
            except BuildFailed as exc:
                record.data["build"].update(status="Failed", finishedAt=records.now(), durationS=_since(started))
                self._finish(record, records.BUILD_FAILED, str(exc))
                self.say(f"{self.spec.name}: build failed — log: {record.path('build.log')}")
                return None
        record.data["build"].update(
            status="Cached" if image.cache_hit else "Succeeded",
            imageUri=image.tag,
            imageId=image.image_id,
            cacheHit=image.cache_hit,
            contextHash=image.context_hash,
            finishedAt=records.now(),
            durationS=_since(started),
        )
        record.save()
        return image.tag

    def _use_given_image(self, record: RunRecord) -> str:
        """Reproduce a run from an exact image (e.g. a pushed digest): no build at all."""
        from mlci.registry import resolve_image

        image = resolve_image(self.client, self.options.image)
        record.data["build"].update(
            status="Skipped", imageUri=self.options.image, imageId=image.id, cacheHit=None, finishedAt=records.now()
        )
        record.save()
        self.say(f"{self.spec.name}: using image {self.options.image} ({image.short_id}); build skipped")
        return image.id

    # -------------------------------------------------------------- stages, gate, retrain
    def _attempts(self, record: RunRecord, image: str, gpu_plan: Any, secrets_env: dict[str, str]) -> None:
        spec = self.spec
        max_attempts = spec.config.retrain.max_attempts
        record.data["overallStatus"] = records.RUNNING
        record.data["run"]["status"] = "Running"
        record.save()
        for n in range(1, max_attempts + 1):
            attempt = self._attempt(record, image, gpu_plan, secrets_env, n)
            if attempt["status"] != "Succeeded":
                if (
                    attempt["status"] == "Failed"
                    and attempt["gate"]
                    and not attempt["gate"]["passed"]
                    and n < max_attempts
                ):
                    self.say(
                        f"{spec.name}: gate failed on attempt {n}/{max_attempts} ({attempt['gate']['reason']}); retraining"
                    )
                    continue
                reason = attempt.get("error") or (attempt["gate"] or {}).get("reason") or "failed"
                self._finish(record, records.FAILED, reason)
                return
            self._publish_local(record, attempt)
            if self.options.push:
                from mlci.registry import push_image

                assert self.manifest.build.registry  # checked before the run started
                reference = push_image(self.client, record, self.manifest.build.registry)
                self.say(f"{spec.name}: pushed {reference}")
            self._finish(record, records.SUCCEEDED, None)
            return

    def _attempt(self, record: RunRecord, image: str, gpu_plan: Any, secrets_env: dict[str, str], n: int) -> dict:
        spec = self.spec
        rel = f"attempt-{n}"
        out_dir = record.path(rel) / "out"
        out_dir.mkdir(parents=True, exist_ok=True)
        attempt: dict[str, Any] = {
            "n": n,
            "status": "Running",
            "startedAt": records.now(),
            "finishedAt": None,
            "outputDir": f"{rel}/out",
            "stages": [],
            "metrics": {},
            "gate": None,
        }
        record.data["attempts"].append(attempt)
        record.save()
        for stage in spec.config.stages:
            log_rel = f"{rel}/{stage.name}.log"
            entry: dict[str, Any] = {
                "name": stage.name,
                "status": "Running",
                "exitCode": None,
                "durationS": None,
                "log": log_rel,
                "startedAt": records.now(),
            }
            attempt["stages"].append(entry)
            record.data["run"]["log"] = log_rel
            record.save()
            self.say(f"{spec.name}: attempt {n} stage {stage.name}: {stage.run}")
            stage_spec = self._stage_spec(record, image, stage, n, out_dir, gpu_plan, secrets_env)
            try:
                with LogSink(record.path(log_rel), echo=self.options.echo, secrets=secrets_env.values()) as sink:
                    result = run_stage(self.client, stage_spec, sink)
            except (KeyboardInterrupt, Cancelled):
                raise  # execute() closes this stage and attempt as Cancelled (Cancelled is an MlciError too)
            except MlciError as exc:
                entry.update(status="Failed", error=str(exc), deviceRequests=getattr(exc, "device_requests", None))
                attempt.update(status="Failed", error=str(exc), finishedAt=records.now())
                record.save()
                raise
            entry.update(
                status=result.status,
                exitCode=result.exit_code,
                durationS=round(result.duration_s, 3),
                deviceRequests=result.device_requests,
                finishedAt=records.now(),
            )
            record.save()
            if result.status != "Succeeded":
                why = "timed out" if result.status == "Timed Out" else f"exited with code {result.exit_code}"
                attempt.update(status="Failed", error=f"stage {stage.name} {why}", finishedAt=records.now())
                record.save()
                self.say(f"{spec.name}: stage {stage.name} {why} — log: {record.path(log_rel)}")
                return attempt
        try:  # what the stages left must be fit to cross the boundary before the gate can pass it
            files = scan_outputs(out_dir, max_bytes=self.manifest.runner.max_output_size)
            attempt["outputs"] = {"passed": True, "files": len(files), "bytes": sum(f.size for f in files)}
        except BoundaryError as exc:
            attempt["outputs"] = {"passed": False, "reason": str(exc)}
            attempt.update(status="Failed", error=str(exc), finishedAt=records.now())
            record.save()
            self.say(f"{spec.name}: attempt {n}: {exc}")
            return attempt
        metrics, metrics_error, rejected = read_metrics(out_dir)
        verdict = judge(spec.config.gate, metrics, metrics_error, rejected)
        if rejected:
            attempt["metricsRejected"] = rejected
        attempt.update(
            metrics=metrics,
            gate=verdict,
            finishedAt=records.now(),
            status="Succeeded" if verdict["passed"] else "Failed",
        )
        record.data["metrics"] = metrics
        record.data["gate"] = {**verdict, "attempt": n}
        record.data["run"]["outputDir"] = attempt["outputDir"]
        record.save()
        shown = ", ".join(f"{k}={v:g}" for k, v in sorted(metrics.items())) or "no metrics"
        self.say(
            f"{spec.name}: attempt {n}: {shown}; gate: {verdict['reason']} → {'PASS' if verdict['passed'] else 'FAIL'}"
        )
        return attempt

    def _stage_spec(
        self,
        record: RunRecord,
        image: str,
        stage: Any,
        n: int,
        out_dir: Path,
        gpu_plan: Any,
        secrets_env: dict[str, str],
    ) -> StageSpec:
        spec = self.spec
        cache = ensure_cache_dir(self.manifest.runner.cache_dir)
        binds = {
            str(out_dir.resolve()): {"bind": CONTAINER_OUT, "mode": "rw"},
            str(cache): {"bind": CONTAINER_CACHE, "mode": "rw"},
        }
        config = spec.path / "config.yaml"
        env = {
            "MLCI_JOB_ID": record.job_id,
            "MLCI_PROJECT": spec.name,
            "MLCI_STAGE": stage.name,
            "MLCI_ATTEMPT": str(n),
            "MLCI_OUTPUT_DIR": CONTAINER_OUT,
            "MLCI_CACHE_DIR": CONTAINER_CACHE,
            **secrets_env,
        }
        if os.path.lexists(config):  # mounted only as the regular file it is: a link would mount its host target
            real = check_input_file(config, f"projects/{spec.name}/config.yaml", within=spec.path)
            binds[str(real)] = {"bind": CONTAINER_CONFIG, "mode": "ro"}
            env["MLCI_CONFIG"] = CONTAINER_CONFIG
        if os.getuid() != 0:
            env["HOME"] = "/tmp"  # the caller's UID has no home in the image
        return StageSpec(
            name=stage.name,
            image=image,
            command=["sh", "-c", stage.run],
            env=env,
            labels={
                "mlci.project": spec.name,
                "mlci.job": record.job_id,
                "mlci.stage": stage.name,
                "mlci.attempt": str(n),
                **owner_labels(self.root),
            },
            binds=binds,
            user=f"{os.getuid()}:{os.getgid()}",
            timeout_s=stage.timeout or spec.config.timeout,
            device_request=gpu_plan.device_request,
            gpu_devices=gpu_plan.devices,
            shm_size=spec.config.shm_size,
            log_driver=self.manifest.runner.engine_logs,
            ipc=spec.config.ipc,
            memlock=spec.config.ulimits.memlock,
            stack=spec.config.ulimits.stack,
            gpu_uuids=gpu_plan.uuids,
            device_nodes=gpu_plan.device_nodes,
        )

    # -------------------------------------------------------------- outcome
    def _publish_local(self, record: RunRecord, attempt: dict) -> None:
        """The passing attempt's outputs go to the default store when it is a local one."""
        store_cfg = self.manifest.artifacts.stores[self.manifest.artifacts.default]
        outputs = record.path(attempt["outputDir"])
        url = outputs.resolve().as_uri()
        if store_cfg.type == "local":
            from mlci.stores import open_store

            url = open_store(self.manifest, None, self.root).publish(record, outputs)
        record.data["run"]["artifactUrl"] = url

    def _finish(self, record: RunRecord, status: str, error: str | None) -> None:
        record.close(status, redact(error) if error else None)  # a stage may have echoed a secret


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def _project_gpus(spec: ProjectSpec) -> GpuRequest:
    from mlci.runner.gpus import parse_gpus

    return parse_gpus(spec.config.gpus)


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


def _write_junit(record: RunRecord, spec: ProjectSpec) -> None:
    """junit.xml: one test case per stage per attempt, the outputs check and the gate, so Jenkins
    charts gate history. A cancelled stage is `skipped`, not a failure: nothing in it failed."""
    cases = []

    def case(classname: str, name: str, body: str, time_s: Any = 0) -> None:
        cases.append(
            f'  <testcase classname={quoteattr(classname)} name={quoteattr(name)} time="{time_s or 0}">{body}</testcase>'
        )

    for attempt in record.data["attempts"]:
        classname = f"mlci.{spec.name}.attempt-{attempt['n']}"
        for stage in attempt["stages"]:
            if stage["status"] == "Succeeded":
                body = ""
            elif stage["status"] == records.CANCELLED:
                body = f"<skipped message={quoteattr(str(stage.get('error') or 'cancelled'))}/>"
            else:
                why = escape(str(stage.get("error") or stage["status"]))
                body = f"<failure message={quoteattr(stage['status'])}>{why}</failure>"
            case(classname, stage["name"], body, stage.get("durationS"))
        outputs = attempt.get("outputs")
        if outputs:
            case(
                classname, "outputs", "" if outputs["passed"] else f"<failure message={quoteattr(outputs['reason'])}/>"
            )
        gate = attempt.get("gate")
        if gate:
            case(classname, "gate", "" if gate["passed"] else f"<failure message={quoteattr(gate['reason'])}/>")
    if record.data["build"]["status"] in ("Failed", records.CANCELLED):
        what = record.data["build"]["status"]
        body = f"<failure message={quoteattr(what)}/>" if what == "Failed" else '<skipped message="cancelled"/>'
        case(f"mlci.{spec.name}", "build", body, record.data["build"].get("durationS"))
    failures = sum("<failure" in c for c in cases)
    skipped = sum("<skipped" in c for c in cases)
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name={quoteattr("mlci." + spec.name)}'
        f' tests="{len(cases)}" failures="{failures}" skipped="{skipped}">\n' + "\n".join(cases) + "\n</testsuite>\n"
    )
    write_text_atomic(record.path("junit.xml"), redact(xml), mode=0o644)
