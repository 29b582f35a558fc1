"""Image builds with progress lines, against the real engine: one line per phase with the step
count, the full output only in the log, and the log's tail when the build fails."""

from __future__ import annotations

import contextlib
import io
import re
import uuid

import pytest

from mlci.progress import Phases
from mlci.runner.image import BuildFailed, build_image
from mlci.runner.logsink import LogSink

DOCKERFILE = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo first-step-output\nRUN echo {nonce}\nCOPY . /app\n"


def _build(client, tmp_path, project, base_image, dockerfile, verbose=False):
    context = tmp_path / project
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(dockerfile)
    console = io.StringIO()
    log_path = tmp_path / f"{project}.log"
    with LogSink(log_path, echo=False) as sink:
        built = build_image(
            client,
            project=project,
            context=context,
            base_image=base_image,
            network="default",
            build_args={},
            no_cache=False,
            log=sink.write,
            phases=Phases(console, verbose=verbose),
            log_path=log_path,
        )
    return built, console.getvalue(), log_path.read_text()


def test_build_prints_one_line_with_steps_then_a_cache_hit(docker_client, base_image, tmp_path):
    project = f"perf-progress-{uuid.uuid4().hex[:8]}"
    dockerfile = DOCKERFILE.replace("{nonce}", uuid.uuid4().hex)
    try:
        built, console, log = _build(docker_client, tmp_path, project, base_image, dockerfile)
        lines = console.splitlines()
        assert lines[0] == f"mlci: {project}: building {built.tag}; full log: {tmp_path / (project + '.log')}"
        assert re.fullmatch(rf"mlci: {project}: build \(step (\d+)/\1, \d+\.\ds\)", lines[1]) and len(lines) == 2
        assert "first-step-output" in log and "first-step-output" not in console
        again, console, _ = _build(docker_client, tmp_path, project, base_image, dockerfile)
        assert again.cache_hit and console == f"mlci: {project}: image {built.tag} is up to date (cache hit)\n"
    finally:
        with contextlib.suppress(Exception):
            docker_client.images.remove(built.tag, force=True)


def test_failed_build_shows_the_tail_of_its_log(docker_client, base_image, tmp_path):
    project = f"perf-progress-{uuid.uuid4().hex[:8]}"
    context = tmp_path / project
    context.mkdir()
    (context / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN for i in $(seq 1 100); do echo build-line-$i; done; exit 7\n"
    )
    log_path = tmp_path / f"{project}.log"
    error, printed = _capture_failure(docker_client, context, base_image, log_path)
    assert "exit code: 7" in str(error) or "returned a non-zero code: 7" in str(error)
    assert re.search(rf"^mlci: {project}: build FAILED \(step 3/\d+, \d+\.\ds\)$", printed, re.MULTILINE)
    assert f"last 40 lines of {log_path}:" in printed
    assert "build-line-100" in printed and "build-line-50\n" not in printed
    assert "build-line-1\n" in log_path.read_text()  # the whole output is in the log


def _capture_failure(client, context, base_image, log_path):
    console = io.StringIO()
    with LogSink(log_path, echo=False) as sink, pytest.raises(BuildFailed) as failure:
        build_image(
            client,
            project=context.name,
            context=context,
            base_image=base_image,
            network="default",
            build_args={},
            no_cache=False,
            log=sink.write,
            phases=Phases(console),
            log_path=log_path,
        )
    return failure.value, console.getvalue()
