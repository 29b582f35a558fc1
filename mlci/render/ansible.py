"""ansible/inventory.yml and ansible/group_vars/all.yml: the hosts, their roles and the stack's facts.

Groups: `mlci_controller` (the host running the compose stack), `mlci_agents` (Jenkins SSH agents)
and `mlci_gpu` (hosts with GPUs, where the NVIDIA roles apply).
"""

from __future__ import annotations

from typing import Any

from mlci.render.model import (
    AGENT_SSH_KEY,
    AGENT_USER,
    AGENT_WORKDIR,
    COMPOSE_DIR,
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
        "mlci_controller": {"hosts": {h.name: None for h in hosts if "controller" in h.roles}},
        "mlci_agents": {"hosts": {h.name: None for h in facts.agents}},
        "mlci_gpu": {"hosts": {h.name: None for h in hosts if h.gpus}},
    }
    return dump_yaml({"all": {"hosts": all_hosts, "children": children}})


def render_group_vars(facts: Facts) -> str:
    m = facts.manifest
    data: dict[str, Any] = {
        "mlci_name": m.name,
        "mlci_root": STACK_ROOT,
        "mlci_compose_dir": COMPOSE_DIR,
        "mlci_jenkins_home": m.jenkins.home,
        "mlci_jenkins_uid": JENKINS_UID,
        "mlci_jenkins_url": m.jenkins.url,
        "mlci_repository_url": m.repository.url if m.repository else None,
        "mlci_agent_user": AGENT_USER,
        "mlci_agent_workdir": AGENT_WORKDIR,
        # The agents authorize the public half of this key for mlci_agent_user.
        "mlci_agent_ssh_key_secret": AGENT_SSH_KEY if facts.agents else None,
        "mlci_portainer_enabled": m.portainer.enabled,
        "mlci_portainer_bind": m.portainer.bind,
        "mlci_portainer_port": m.portainer.port,
        "mlci_frp_enabled": m.webhook.frp is not None,
        "mlci_build_base_image": m.build.base_image,
        # Names only: values come from Ansible Vault or the controller's environment, and are
        # installed as <mlci_compose_dir>/secrets/<name>, mode 0400, owned by `owner`.
        "mlci_secrets": [{"name": s.name, "service": s.service, "owner": s.owner} for s in facts.secrets],
    }
    return dump_yaml(data)
