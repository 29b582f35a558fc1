"""Every job Jenkins gets has a build discarder from mlci.yaml: without one, every build's
log and archived run record stays in JENKINS_HOME forever."""

from __future__ import annotations

import shutil
from pathlib import Path

from render_support import by_path, parse

from mlci.render import plan

HERE = Path(__file__).parent
LIBRARY = "library: {version: v1.2.0, path: jenkins/library}}"


def job_dsl(root: Path) -> str:
    return parse(by_path(plan(root))["jenkins/casc.yaml"])["jobs"][0]["script"]


def test_every_job_keeps_a_bounded_number_of_builds_by_default() -> None:
    script = job_dsl(HERE / "scenarios" / "one-host")
    jobs = script.count("pipelineJob(")
    assert jobs == 4  # the release job, the experiment job and one job per project
    assert script.count("logRotator {") == script.count("daysToKeep(90)") == script.count("numToKeep(100)") == jobs


def test_the_discarder_comes_from_the_manifest(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(HERE / "scenarios" / "one-host", root, ignore=shutil.ignore_patterns("expected"))
    manifest = (root / "mlci.yaml").read_text()
    assert LIBRARY in manifest
    custom = LIBRARY[:-1] + ", build_discarder: {days: 14, builds: 20}}"
    (root / "mlci.yaml").write_text(manifest.replace(LIBRARY, custom))
    script = job_dsl(root)
    assert script.count("daysToKeep(14)") == script.count("numToKeep(20)") == script.count("pipelineJob(") == 4
