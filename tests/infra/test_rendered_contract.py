"""The rendered inventory and group_vars (from `mlci render`) give the roles what they consume."""

import json
import subprocess

import yaml
from infra_checkout import ANSIBLE_DIR, REPO_ROOT, ansible_tool

GROUP_VARS = ANSIBLE_DIR / "group_vars" / "all.yml"


def _group_vars() -> dict:
    return yaml.safe_load(GROUP_VARS.read_text())


def test_group_vars_have_every_variable_the_roles_consume():
    variables = _group_vars()
    for name, kind in {
        "mlci_project_name": str,
        "mlci_root": str,
        "mlci_jenkins_home": str,
        "mlci_jenkins_uid": int,
        "mlci_jenkins_port": int,
        "mlci_stack_files": list,
        "mlci_secrets": list,
    }.items():
        assert isinstance(variables.get(name), kind), f"{GROUP_VARS}: {name} should be a {kind.__name__}"
    assert variables["mlci_jenkins_home"].startswith(variables["mlci_root"] + "/")
    for secret in variables["mlci_secrets"]:
        assert set(secret) == {"name", "service", "owner_uid"}, secret
        assert isinstance(secret["owner_uid"], int), secret


def test_every_stack_file_exists_in_the_checkout():
    # mlci_stack copies these from the checkout; a missing one would fail only on the host.
    missing = [entry for entry in _group_vars()["mlci_stack_files"] if not (REPO_ROOT / entry).exists()]
    assert not missing, f"listed in mlci_stack_files but not in the repository: {missing}"


def test_inventory_hosts_have_connection_variables():
    listed = subprocess.run(
        [ansible_tool("ansible-inventory"), "-i", "inventory.yml", "--list"],
        cwd=ANSIBLE_DIR,
        text=True,
        capture_output=True,
        check=True,
    )
    inventory = json.loads(listed.stdout)
    hosts = {
        host for group in ("mlci_controllers", "mlci_agents") for host in inventory.get(group, {}).get("hosts", [])
    }
    assert inventory.get("mlci_controllers", {}).get("hosts"), "no host in mlci_controllers"
    for host in hosts:
        variables = inventory["_meta"]["hostvars"][host]
        assert {"ansible_host", "ansible_user", "ansible_port", "mlci_gpus"} <= set(variables), host


def test_site_yml_passes_syntax_check_with_the_rendered_inventory():
    done = subprocess.run(
        [ansible_tool("ansible-playbook"), "--syntax-check", "-i", "inventory.yml", "site.yml"],
        cwd=ANSIBLE_DIR,
        text=True,
        capture_output=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
