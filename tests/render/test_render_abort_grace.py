"""On abort Jenkins sends SIGTERM and, SoftKillWaitSeconds later (5 by default), SIGKILL. mlci needs
longer than that to stop the stage container (its own SIGTERM grace) and write a Cancelled record,
so the controller and every SSH agent run with a longer soft-kill wait."""

from __future__ import annotations

import re
from pathlib import Path

from render_support import by_path, parse

from mlci.render import plan
from mlci.runner.container import STOP_GRACE_S

HERE = Path(__file__).parent


def _soft_kill(text: str) -> int:
    [value] = re.findall(r"-DSoftKillWaitSeconds=(\d+)", text)
    return int(value)


def test_controller_and_agents_give_mlci_time_to_finish_its_record() -> None:
    files = by_path(plan(HERE / "scenarios" / "three-hosts"))
    assert _soft_kill(files["jenkins/Dockerfile"].content) > 2 * STOP_GRACE_S
    nodes = parse(files["jenkins/casc.yaml"])["jenkins"]["nodes"]
    assert nodes, "the scenario has SSH agents"
    for node in nodes:
        assert _soft_kill(node["permanent"]["launcher"]["ssh"]["jvmOptions"]) > 2 * STOP_GRACE_S
