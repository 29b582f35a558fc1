"""The container contract of one stage: what goes into its `docker run` (README, "The container
contract"): image, command, environment, labels, mounts, user, time limit, GPUs and resources."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from mlci import contract
from mlci.boundary import scan_outputs
from mlci.manifest import Manifest, ProjectSpec
from mlci.manifest.project import Stage
from mlci.run.ownership import owner_labels
from mlci.runner.container import StageSpec
from mlci.runner.gpus import GpuPlan
from mlci.runner.sidecars import SidecarSpec
from mlci.track.uri import tracking_uri


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
    images: dict[str, str] = field(default_factory=dict)  # a stage's or service's `image:` → what to run


CPU_ONLY = GpuPlan(device_request=None, devices="none")


def stage_gpus(inputs: StageInputs, stage: Stage) -> GpuPlan:
    """The project's lease, unless the stage says `gpus: none` (a CPU stage holds no device)."""
    return CPU_ONLY if stage.gpus == "none" else inputs.gpu_plan


def sidecar_specs(inputs: StageInputs, stage: Stage, attempt: int, log_dir: Path) -> list[SidecarSpec]:
    """The project's services and the stage's own, each with its declared secrets only."""
    project = inputs.project
    specs = []
    for name, service in {**project.config.services, **stage.services}.items():
        secrets = {key: inputs.secrets[key] for key in service.secrets}
        specs.append(
            SidecarSpec(
                name=name,
                image=inputs.images[service.image],
                command=["sh", "-c", service.command] if service.command else None,
                env={**service.env, **secrets},
                labels={
                    contract.LABEL_PROJECT: project.name,
                    contract.LABEL_JOB: inputs.job_id,
                    contract.LABEL_STAGE: stage.name,
                    contract.LABEL_ATTEMPT: str(attempt),
                    **owner_labels(inputs.root),
                },
                log=log_dir / f"{stage.name}.{name}.log",
                secrets=tuple(secrets.values()),
                device_request=stage_gpus(inputs, stage).device_request if service.gpus == "inherit" else None,
                device_nodes=stage_gpus(inputs, stage).device_nodes if service.gpus == "inherit" else (),
                health_cmd=service.health.cmd if service.health else None,
                health_interval_s=service.health.interval if service.health else 1.0,
                start_timeout_s=service.start_timeout,
            )
        )
    return specs


def network_name(inputs: StageInputs, stage: Stage, attempt: int) -> str:
    digest = hashlib.sha256(f"{inputs.project.name}/{inputs.job_id}/{attempt}/{stage.name}".encode()).hexdigest()
    return f"mlci-{digest[:16]}-{stage.name[:30]}"


@dataclass(frozen=True)
class Feedback:
    """What attempt n learns of attempt n-1 (whose gate failed): its outputs and its verdict."""

    attempt: int
    out_dir: Path
    metrics: dict[str, float]
    gate_reason: str


def feedback_env(feedback: Feedback) -> dict[str, str]:
    metrics = json.dumps(feedback.metrics, separators=(",", ":"), sort_keys=True)
    return {
        "MLCI_PREVIOUS_DIR": contract.CONTAINER_PREVIOUS,
        "MLCI_PREVIOUS_ATTEMPT": str(feedback.attempt),
        # metrics are finite numbers with checked names (run/gate.py): bounded, safe as one variable
        "MLCI_PREVIOUS_METRICS": metrics if len(metrics) <= 65536 else "{}",
        "MLCI_PREVIOUS_GATE": feedback.gate_reason[:4096],
    }


def stage_spec(
    inputs: StageInputs, stage: Stage, attempt: int, out_dir: Path, feedback: Feedback | None = None
) -> StageSpec:
    project = inputs.project
    binds = {str(out_dir.resolve()): {"bind": contract.CONTAINER_OUT, "mode": "rw"}}
    env = {
        "MLCI_JOB_ID": inputs.job_id,
        "MLCI_PROJECT": project.name,
        "MLCI_STAGE": stage.name,
        "MLCI_ATTEMPT": str(attempt),
        "MLCI_OUTPUT_DIR": contract.CONTAINER_OUT,
        "MLCI_CACHE_DIR": contract.CONTAINER_CACHE,
        **inputs.secrets,
    }
    if feedback is not None:
        # what crosses into the container follows the boundary policy: regular files and
        # directories only, no link anywhere below (scan_outputs raises BoundaryError otherwise)
        scan_outputs(feedback.out_dir, max_bytes=inputs.manifest.runner.max_output_size)
        binds[str(feedback.out_dir.resolve())] = {"bind": contract.CONTAINER_PREVIOUS, "mode": "ro"}
        env.update(feedback_env(feedback))
    if (mlflow := inputs.manifest.tracking.mlflow) is not None:  # where a stage may log its own runs
        env["MLFLOW_TRACKING_URI"] = tracking_uri(mlflow)
    if inputs.config is not None:  # written by mlci from the checked project file (run/overrides.py)
        binds[str(inputs.config.resolve())] = {"bind": contract.CONTAINER_CONFIG, "mode": "ro"}
        env["MLCI_CONFIG"] = contract.CONTAINER_CONFIG
    if os.getuid() != 0:
        env["HOME"] = "/tmp"  # the caller's UID has no home in the image
    settings = project.config
    plan = stage_gpus(inputs, stage)
    return StageSpec(
        name=stage.name,
        image=inputs.images[stage.image] if stage.image else inputs.image,
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
        project=project.name,
        gpu=plan,
        cache_root=inputs.cache_dir,
        shm_size=settings.shm_size,
        log_driver=inputs.manifest.runner.engine_logs,
        ipc=settings.ipc,
        memlock=settings.ulimits.memlock,
        stack=settings.ulimits.stack,
    )
