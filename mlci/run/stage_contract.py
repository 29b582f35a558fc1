"""The container contract of one stage: what goes into its `docker run` (README, "The container
contract"): image, command, environment, labels, mounts, user, time limit, GPUs and resources."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlci import contract
from mlci.manifest import Manifest, ProjectSpec
from mlci.manifest.schema import Stage
from mlci.run.ownership import owner_labels
from mlci.runner.container import StageSpec
from mlci.runner.gpus import GpuPlan
from mlci.track import tracking_uri


@dataclass(frozen=True)
class StageInputs:
    """Everything of the run that every stage container shares."""

    root: Path
    manifest: Manifest
    project: ProjectSpec
    job_id: str
    image: str
    gpu_plan: GpuPlan
    secrets: dict[str, str]
    cache_dir: Path
    config: Path | None  # the effective config.yaml (the record's copy), mounted read-only


def stage_spec(inputs: StageInputs, stage: Stage, attempt: int, out_dir: Path) -> StageSpec:
    project = inputs.project
    binds = {
        str(out_dir.resolve()): {"bind": contract.CONTAINER_OUT, "mode": "rw"},
        str(inputs.cache_dir): {"bind": contract.CONTAINER_CACHE, "mode": "rw"},
    }
    env = {
        "MLCI_JOB_ID": inputs.job_id,
        "MLCI_PROJECT": project.name,
        "MLCI_STAGE": stage.name,
        "MLCI_ATTEMPT": str(attempt),
        "MLCI_OUTPUT_DIR": contract.CONTAINER_OUT,
        "MLCI_CACHE_DIR": contract.CONTAINER_CACHE,
        **inputs.secrets,
    }
    if (mlflow := inputs.manifest.tracking.mlflow) is not None:  # where a stage may log its own runs
        env["MLFLOW_TRACKING_URI"] = tracking_uri(mlflow)
    if inputs.config is not None:  # written by mlci from the checked project file (run/overrides.py)
        binds[str(inputs.config.resolve())] = {"bind": contract.CONTAINER_CONFIG, "mode": "ro"}
        env["MLCI_CONFIG"] = contract.CONTAINER_CONFIG
    if os.getuid() != 0:
        env["HOME"] = "/tmp"  # the caller's UID has no home in the image
    settings = project.config
    plan = inputs.gpu_plan
    return StageSpec(
        name=stage.name,
        image=inputs.image,
        command=["sh", "-c", stage.run],
        env=env,
        labels={
            contract.LABEL_PROJECT: project.name,
            contract.LABEL_JOB: inputs.job_id,
            contract.LABEL_STAGE: stage.name,
            contract.LABEL_ATTEMPT: str(attempt),
            **owner_labels(inputs.root),
        },
        binds=binds,
        user=f"{os.getuid()}:{os.getgid()}",
        timeout_s=stage.timeout or settings.timeout,
        device_request=plan.device_request,
        gpu_devices=plan.devices,
        shm_size=settings.shm_size,
        log_driver=inputs.manifest.runner.engine_logs,
        ipc=settings.ipc,
        memlock=settings.ulimits.memlock,
        stack=settings.ulimits.stack,
        gpu_uuids=plan.uuids,
    )
