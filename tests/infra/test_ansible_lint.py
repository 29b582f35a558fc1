"""The playbook and roles parse, and pass ansible-lint (production profile) and yamllint."""

import subprocess

from infra_checkout import ANSIBLE_DIR, ansible_tool


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ANSIBLE_DIR, text=True, capture_output=True)


def test_playbooks_pass_syntax_check():
    for playbook in ("site.yml", "gpu-maintenance.yml", "gpu-smoke.yml"):
        done = _run(ansible_tool("ansible-playbook"), "--syntax-check", "-i", "localhost,", playbook)
        assert done.returncode == 0, playbook + done.stdout + done.stderr


def test_ansible_lint_production_profile_is_clean():
    # Settings in ansible/.ansible-lint (profile: production, offline).
    done = _run(
        ansible_tool("ansible-lint"),
        "--profile",
        "production",
        "--nocolor",
        "site.yml",
        "gpu-maintenance.yml",
        "gpu-smoke.yml",
        "roles",
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_yamllint_is_clean():
    # Settings in ansible/.yamllint (ansible-lint's expectations, 160 columns).
    done = _run(
        ansible_tool("yamllint"),
        "--strict",
        "site.yml",
        "gpu-maintenance.yml",
        "gpu-smoke.yml",
        "roles",
        ".yamllint",
        ".ansible-lint",
    )
    assert done.returncode == 0, done.stdout + done.stderr
