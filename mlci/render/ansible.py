"""ansible/inventory.yml and ansible/group_vars/all.yml: the hosts, their roles and the stack's facts.

Groups: `mlci_controllers` (the host running the compose stack), `mlci_agents` (Jenkins SSH agents)
and `mlci_gpu` (hosts with GPUs). Variable names are the ones the roles in ansible/roles consume.
"""

from __future__ import annotations

from typing import Any

from mlci.manifest.schema import DEFAULT_BASE_IMAGE
from mlci.render import mlflow_server
from mlci.render.distribution import agent_extras, controller_extras, distribution
from mlci.render.model import (
    AGENT_USER,
    AGENT_WORKDIR,
    JENKINS_PORT,
    JENKINS_UID,
    STACK_ROOT,
    Facts,
)
from mlci.render.syntax import dump_yaml


def render_inventory(facts: Facts) -> str:
    hosts = facts.manifest.hosts
    all_hosts = {
        h.name: {
            "ansible_host": h.address,
            "ansible_user": h.ssh_user,
            "ansible_port": h.ssh_port,
            "mlci_gpus": h.gpus,
            "mlci_roles": list(h.roles),
            "mlci_labels": facts.node_labels(h),
        }
        for h in hosts
    }
    children = {
        "mlci_controllers": {"hosts": {h.name: None for h in hosts if "controller" in h.roles}},
        "mlci_agents": {"hosts": {h.name: None for h in facts.agents}},
        "mlci_gpu": {"hosts": {h.name: None for h in hosts if h.gpus}},
        # hosts whose engine runs stages: they get the pinned mlci and the base image (mlci_host)
        "mlci_builders": {"hosts": {h.name: None for h in hosts if facts.builds_on(h)}},
    }
    return dump_yaml({"all": {"hosts": all_hosts, "children": children}})


def render_group_vars(facts: Facts, stack_files: list[str]) -> str:
    m = facts.manifest
    data: dict[str, Any] = {
        "mlci_name": m.name,
        "mlci_project_name": f"mlci-{m.name}",  # the compose project
        "mlci_root": STACK_ROOT,
        "mlci_jenkins_home": m.jenkins.home,
        "mlci_runs_dir": m.jenkins.runs_dir,
        "mlci_local_store_dirs": facts.local_store_dirs(),
        "mlci_jenkins_uid": JENKINS_UID,
        "mlci_jenkins_port": JENKINS_PORT,
        "mlci_jenkins_url": m.jenkins.url,
        "mlci_repository_url": m.repository.url if m.repository else None,
        "mlci_agent_user": AGENT_USER,
        "mlci_agent_workdir": AGENT_WORKDIR,
        "mlci_portainer_enabled": m.portainer.enabled,
        "mlci_portainer_bind": m.portainer.bind,
        "mlci_portainer_port": m.portainer.port,
        "mlci_frp_enabled": m.webhook.frp is not None,
        **_mlflow_vars(facts),
        "mlci_build_base_image": m.build.base_image,
        # What mlci_stack copies from the checkout to the stack root: the rendered files only; the
        # controller image installs the pinned mlci itself.
        "mlci_stack_files": stack_files,
        **_distribution_vars(facts),
        # Names only: values come from Ansible Vault (mlci_secret_values) or the controller's
        # environment, installed as <mlci_root>/secrets/<name>, mode 0400, owned by owner_uid.
        # The agents' SSH key is not listed: mlci_stack generates it.
        "mlci_secrets": [
            {"name": s.name, "service": s.service, "owner_uid": s.owner_uid} for s in facts.secrets if s.supplied
        ],
    }
    return dump_yaml(data)


# ---- the pinned mlci on every host, and the base image where stages run


def _distribution_vars(facts: Facts) -> dict[str, Any]:
    m = facts.manifest
    dist = distribution(m)
    return {
        "mlci_version": dist.version,
        "mlci_index_url": dist.index_url,
        # checkout: Ansible builds the wheel from the repository (mlci's own) for the image and the hosts.
        "mlci_install_from_checkout": dist.from_checkout,
        "mlci_wheel": dist.wheel,
        "mlci_controller_extras": controller_extras(m),
        **({"mlci_agent_extras": agent_extras(m)} if agent_extras(m) else {}),
        # only with the service, so a stack without it renders as before (the role defaults to off)
        **(
            {
                "mlci_dashboard_enabled": True,
                "mlci_dashboard_port": m.dashboard.port,
                "mlci_dashboard_bind": m.dashboard.bind,
            }
            if m.dashboard.enabled
            else {}
        ),
        "mlci_ca_bundle": m.build.ca_bundle,
        # air-gapped plugins (jenkins.plugins.bundle): copied into the image's build context as plugin-bundle/
        "mlci_plugin_bundle": m.jenkins.plugins.bundle,
        "mlci_pip_index_url": m.build.pip_index_url,
        # mlci's offline default is built on each host (`mlci base-image build`); any other is pulled.
        "mlci_base_image_build": m.build.base_image == DEFAULT_BASE_IMAGE,
    }


def _mlflow_vars(facts: Facts) -> dict[str, Any]:
    """The stack's MLflow server (tracking.mlflow.server): its data directory on the host and the
    user that owns it; absent from group_vars when the server is off, so other stacks render as before."""
    server = mlflow_server.server(facts)
    if server is None:
        return {}
    host = "127.0.0.1" if server.bind in ("0.0.0.0", "::") else server.bind
    host = f"[{host}]" if ":" in host else host
    return {
        "mlci_mlflow_enabled": True,
        "mlci_mlflow_data_dir": server.data_dir,
        "mlci_mlflow_uid": mlflow_server.UID,
        "mlci_mlflow_port": server.port,
        # where Ansible waits for /health: the published address (loopback when published on all)
        "mlci_mlflow_health_url": f"http://{host}:{server.port}/health",
    }
