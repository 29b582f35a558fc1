"""Every Groovy file of the library and the root Jenkinsfile compiles under Groovy 2.4.21 (the
version Jenkins core embeds); the pure helpers under src/ behave, checked against Python."""

from __future__ import annotations

import shlex

import pytest

from . import harness

GROOVY_FILES = sorted(harness.LIBRARY.rglob("*.groovy"))
NASTY = ["vision", "", "a b", "it's", "$(id)", "`id`", "a;rm -rf /", "x\ny", "--help", "é", "a'b\"c", "${env.X}", "*"]
DEVICES = [
    (["gpu-01-gpu0", "gpu-01"], {"value": "device=0"}),
    (["gpu-01-gpu3,gpu-01-gpu1", "gpu-01"], {"value": "1,3"}),
    (["gpu-01-gpu10,gpu-01-gpu2", "gpu-01"], {"value": "2,10"}),
]
BAD_DEVICES = [["gpu-10-gpu0", "gpu-1"], ["gpu-02-gpu0", "gpu-01"], ["gpu-01-gpuX", "gpu-01"], ["", "gpu-01"]]
GPUS_PARAM = [("", None), ("none", 0), ("all", -1), ("2", 2), (" 1 ", 1)]


@pytest.fixture(scope="module")
def answer() -> dict:
    evals = [{"class": "mlci.Shell", "method": "quote", "args": [s]} for s in NASTY]
    evals += [{"class": "mlci.GpuLease", "method": "devices", "args": a} for a, _ in DEVICES]
    evals += [{"class": "mlci.GpuLease", "method": "devices", "args": a} for a in BAD_DEVICES]
    evals += [{"class": "mlci.PlanCheck", "method": "gpusOverride", "args": [v]} for v, _ in GPUS_PARAM]
    evals += [{"class": "mlci.PlanCheck", "method": "gpusOverride", "args": [v]} for v in ("2; id", "-1", "many")]
    return harness.run(compile=[*GROOVY_FILES, harness.JENKINSFILE], evals=evals)


def test_the_library_has_its_steps_and_helpers():
    names = {p.relative_to(harness.LIBRARY).as_posix() for p in GROOVY_FILES}
    assert {"vars/mlciRelease.groovy", "vars/mlciProject.groovy", "src/mlci/Shell.groovy"} <= names


def test_every_groovy_file_and_the_jenkinsfile_compile(answer):
    assert answer["compile"] == {str(p): None for p in [*GROOVY_FILES, harness.JENKINSFILE]}


def test_the_jenkinsfile_is_one_library_step():
    assert harness.JENKINSFILE.read_text() == "@Library('mlci') _\nmlciRelease()\n"


def test_every_step_has_a_help_page():
    for script in harness.LIBRARY.glob("vars/*.groovy"):
        help_page = script.with_suffix(".txt")
        assert help_page.is_file(), f"{help_page} is missing"
        assert f"{script.stem}(" in help_page.read_text()


def test_shell_quote_matches_python_shlex(answer):
    quoted = [e["value"] for e in answer["evals"][: len(NASTY)]]
    assert quoted == [shlex.quote(s) for s in NASTY]
    # and the shell reads each back as the one word it was
    for original, word in zip(NASTY, quoted, strict=True):
        assert shlex.split(f"echo {word}") == ["echo", original]


def test_locked_resources_become_device_indexes(answer):
    start = len(NASTY)
    assert answer["evals"][start : start + len(DEVICES)] == [want for _, want in DEVICES]


def test_resources_of_another_host_or_misnamed_are_refused(answer):
    start = len(NASTY) + len(DEVICES)
    for got in answer["evals"][start : start + len(BAD_DEVICES)]:
        assert got["error"].startswith("IllegalArgumentException: "), got


def test_the_gpus_parameter(answer):
    start = len(NASTY) + len(DEVICES) + len(BAD_DEVICES)
    got = answer["evals"][start : start + len(GPUS_PARAM)]
    assert got == [{"value": want} for _, want in GPUS_PARAM]
    for bad in answer["evals"][start + len(GPUS_PARAM) :]:
        assert bad["error"].startswith("IllegalArgumentException: GPUS must be"), bad
