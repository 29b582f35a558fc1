"""The mlci_cache_prune role renders a systemd timer that prunes the stage caches as the agent user
(builds run as that user on every agent host, the controller's included), with the settings it is
given, and refuses settings that are not values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from infra_checkout import ANSIBLE_DIR, ansible_tool


def _check_run(tmp_path: Path, extra_vars: dict) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "play.yml"  # JSON is YAML
    play = {
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable, **extra_vars},
        "roles": ["mlci_cache_prune"],
    }
    playbook.write_text(json.dumps([play]))
    env = {**os.environ, "ANSIBLE_ROLES_PATH": str(ANSIBLE_DIR / "roles"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [ansible_tool("ansible-playbook"), "-i", "localhost,", "--check", "--diff", str(playbook)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_timer_and_service_carry_the_settings(tmp_path):
    done = _check_run(tmp_path, {"mlci_cache_prune_max_size": "200G", "mlci_cache_prune_on_calendar": "daily"})
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "\n+User=mlci-agent\n" in out  # the agent user's caches, not the Jenkins container's
    assert "\n+ExecStart=/usr/local/bin/mlci cache prune --older-than 30d --max-size 200G\n" in out
    assert "docker exec" not in out
    assert "OnCalendar=daily" in out and "WantedBy=timers.target" in out


def test_the_settings_take_mlcis_size_and_duration_grammar(tmp_path):
    done = _check_run(tmp_path, {"mlci_cache_prune_older_than": "1d12h", "mlci_cache_prune_max_size": "1.5TiB"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "\n+ExecStart=/usr/local/bin/mlci cache prune --older-than 1d12h --max-size 1.5TiB\n" in done.stdout


@pytest.mark.parametrize(
    "bad",
    [
        {"mlci_cache_prune_older_than": "30d; rm -rf /"},
        {"mlci_cache_prune_older_than": "30d\nExecStartPost=/bin/true"},
        {"mlci_cache_prune_older_than": "30d\n"},
        {"mlci_cache_prune_max_size": "200G\n"},
        {"mlci_cache_prune_on_calendar": "daily\n"},
    ],
)
def test_settings_that_are_not_values_are_refused(tmp_path, bad):
    done = _check_run(tmp_path, bad)
    assert done.returncode != 0
    assert "older_than like 30d" in done.stdout


def test_a_user_or_command_that_would_add_unit_lines_is_refused(tmp_path):
    for bad in (
        {"mlci_cache_prune_user": "mlci-agent\nExecStartPre=/bin/true"},
        {"mlci_cache_prune_user": "mlci-agent\n"},
        {"mlci_cache_prune_command": "mlci"},
    ):
        done = _check_run(tmp_path, bad)
        assert done.returncode != 0, bad
        assert "user a user name, command an absolute path" in done.stdout
