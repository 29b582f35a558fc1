"""Operational details of the rendered controller that Jenkins' own sources decide (issue 23):
no JCasC key that only logs a stack trace, and the soft-kill wait described as Jenkins applies it."""

from __future__ import annotations

import re
from pathlib import Path

from render_support import by_path, parse

from mlci.render import plan
from mlci.render.jenkins import SOFT_KILL_WAIT_S

HERE = Path(__file__).parent


def test_no_remoting_security_key():
    # JCasC's remotingSecurity calls the deprecated AdminWhitelistRule#setMasterKillSwitch: a no-op
    # that logs a stack trace on every boot (agent-to-controller security cannot be turned off).
    files = by_path(plan(HERE / "scenarios" / "three-hosts"))
    assert "remotingSecurity" not in parse(files["jenkins/casc.yaml"])["jenkins"]


def test_the_dockerfile_describes_the_soft_kill_as_jenkins_does_it():
    text = by_path(plan(HERE / "scenarios" / "three-hosts"))["jenkins/Dockerfile"].content
    assert re.findall(r"-DSoftKillWaitSeconds=(\d+)", text) == [str(SOFT_KILL_WAIT_S)]
    assert "never sends\n# SIGKILL" in text or "never sends SIGKILL" in text.replace("\n# ", " ")
    assert "then SIGKILL" not in text
