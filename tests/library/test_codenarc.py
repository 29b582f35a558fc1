"""scripts/codenarc.sh (CodeNarc's Jenkins rule set, run by scripts/test.sh over the library and the
Jenkinsfile) really finds CPS pitfalls: a library with one gets exit 1 and the rule's name."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from . import harness

SCRIPT = harness.REPO / "scripts" / "codenarc.sh"


def test_codenarc_finds_a_closure_in_a_gstring(tmp_path: Path) -> None:
    shutil.copytree(harness.LIBRARY, tmp_path / "jenkins" / "library")
    (tmp_path / "Jenkinsfile").write_text(harness.JENKINSFILE.read_text())
    bad = tmp_path / "jenkins" / "library" / "vars" / "mlciBad.groovy"
    bad.write_text("def call() {\n    echo \"later ${-> 'lazy'}\"\n}\n")
    done = subprocess.run([str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Rule=ClosureInGString" in done.stderr and "mlciBad.groovy" in done.stderr
