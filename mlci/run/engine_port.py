"""The Docker side of a run, as the state machine sees it: a small interface, so that every exit
path of a run can be tested without an engine (tests/run/test_machine.py) and the real one
(DockerRunEngine) is a thin adapter over mlci.runner."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from mlci.manifest.schema import Build as BuildSettings
from mlci.progress import Phases
from mlci.publish.registry import push_image, resolve_image
from mlci.record.store import RunRecord
from mlci.run.ownership import clean_leftovers
from mlci.runner import sidecars
from mlci.runner.container import StageResult, StageSpec, run_stage
from mlci.runner.engine import has_nvidia_runtime
from mlci.runner.gpus import GpuPlan, GpuRequest, cdi_requested, control_device_nodes, load_inventory, plan_gpus
from mlci.runner.image import BuiltImage, build_image
from mlci.runner.logsink import LogSink
from mlci.runner.sidecars import SidecarSpec


class RunEngine(Protocol):
    def clean_leftovers(self, root: Path, project: str, say: Callable[[str], None]) -> None: ...

    def plan_gpus(self, request: GpuRequest) -> GpuPlan: ...

    def build(
        self,
        project: str,
        context: Path,
        settings: BuildSettings,
        *,
        no_cache: bool,
        log: Callable[[str], None],
        phases: Phases | None,
        log_path: Path,
    ) -> BuiltImage:
        """The project's image, built or reused; raises runner.image.BuildFailed."""
        ...

    def resolve(self, reference: str) -> str:
        """The id of an exact image (tag, id or REPO@sha256:…), pulled when absent."""
        ...

    def run_stage(self, spec: StageSpec, sink: LogSink, services: list[SidecarSpec], network: str) -> StageResult:
        """The stage's container, with `services` beside it on `network` (raises SidecarFailed)."""
        ...

    def push(self, record: RunRecord, registry: str) -> str: ...


class DockerRunEngine:
    """RunEngine over a docker.DockerClient."""

    def __init__(self, client: Any):
        self.client = client

    def clean_leftovers(self, root: Path, project: str, say: Callable[[str], None]) -> None:
        clean_leftovers(self.client, root, project, say)

    def plan_gpus(self, request: GpuRequest) -> GpuPlan:
        # only `auto` needs to know the engine's runtimes (docker info is one of the slower calls)
        return plan_gpus(
            request,
            request.mode == "auto" and has_nvidia_runtime(self.client),
            load_inventory() if request.mode != "none" else None,
            cdi=cdi_requested(),
            control_nodes=control_device_nodes(),
        )

    def build(
        self,
        project: str,
        context: Path,
        settings: BuildSettings,
        *,
        no_cache: bool,
        log: Callable[[str], None],
        phases: Phases | None,
        log_path: Path,
    ) -> BuiltImage:
        return build_image(
            self.client,
            project=project,
            context=context,
            base_image=settings.base_image,
            network=settings.network,
            build_args={"PIP_INDEX_URL": settings.pip_index_url} if settings.pip_index_url else {},
            no_cache=no_cache,
            log=log,
            phases=phases,
            log_path=log_path,
        )

    def resolve(self, reference: str) -> str:
        return resolve_image(self.client, reference).id

    def run_stage(self, spec: StageSpec, sink: LogSink, services: list[SidecarSpec], network: str) -> StageResult:
        if not services:
            return run_stage(self.client, spec, sink)
        with sidecars.running(self.client.api, services, network, spec.labels) as running:
            try:
                result = run_stage(self.client, dataclasses.replace(spec, network=running.network), sink)
            except BaseException as exc:  # cancelled (SIGTERM/SIGINT): the record still names the services
                exc.services = running.outcomes  # type: ignore[attr-defined]
                raise
            result.services = running.outcomes  # updated in place as they are removed
            return result

    def push(self, record: RunRecord, registry: str) -> str:
        return push_image(self.client, record, registry)
