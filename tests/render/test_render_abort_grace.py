"""On abort Jenkins SIGTERMs `mlci run` and waits up to SoftKillWaitSeconds (5 by default) for it to
exit, never SIGKILLing it (see tests/library/harness.groovy for the cited sources). mlci needs longer
than 5 s to stop the stage container (its own SIGTERM grace) and write a Cancelled record, so the
controller and every SSH agent wait longer: the `sh` step then ends when mlci has really finished."""

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
