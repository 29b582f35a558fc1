"""Drive tests/library/harness.groovy: one JVM runs every compile check, pure-function call and
pipeline scenario of a test module, and answers with one JSON object."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LIBRARY = REPO / "jenkins" / "library"
JENKINSFILE = REPO / "Jenkinsfile"
JAVA_HOME = "/usr/lib/jvm/java-17-openjdk-amd64"


def groovy() -> str:
    found = shutil.which("groovy")
    if not found:
        raise RuntimeError("groovy is not installed: `apt-get install groovy` (2.4.21, the version Jenkins embeds)")
    return found


def run(
    *,
    compile: list[Path] = (),
    evals: list[dict[str, Any]] = (),
    scenarios: list[dict[str, Any]] = (),
    jenkinsfile: Path = JENKINSFILE,
    timeout: int = 300,
) -> dict:
    request = {
        "annotation": str(HERE / "Library.groovy"),
        "steps": str(HERE / "steps.json"),
        "compile": [str(p) for p in compile],
        "evals": list(evals),
        "scenarios": list(scenarios),
    }
    env = dict(os.environ)
    if "JAVA_HOME" not in env and Path(JAVA_HOME).is_dir():
        env["JAVA_HOME"] = JAVA_HOME
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(request, f)
    try:
        done = subprocess.run(
            [groovy(), str(HERE / "harness.groovy"), str(LIBRARY), str(jenkinsfile), f.name],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
    finally:
        os.unlink(f.name)
    if done.returncode != 0:
        raise RuntimeError(f"harness failed ({done.returncode}):\n{done.stderr}\n{done.stdout}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    answer["scenarios"] = Results(answer["scenarios"], {s["name"] for s in scenarios if s.get("expectHarnessError")})
    return answer


class Results(dict):
    """Scenario results by name; reading one the harness flagged fails that test (and only that one)."""

    def __init__(self, results: dict, expected: set[str]) -> None:
        super().__init__(results)
        self.expected = expected

    def __getitem__(self, name: str) -> dict:
        got = super().__getitem__(name)
        if got["harnessError"] and name not in self.expected:
            raise HarnessError(f"scenario {name}: {got['harnessError']}")
        return got


class HarnessError(AssertionError):
    """The library did something Jenkins would reject (an unknown step parameter, a step outside
    node) or that would hang a real build forever (a lock or input nothing can end)."""
