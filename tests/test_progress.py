"""Progress of long steps (mlci/progress.py, the base image's tool runner, image builds): one line
per phase with counts, the full output in a log file, everything with -v, the last 40 lines on
failure, and no ANSI codes unless a person's terminal is watching."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlci.errors import MlciError
from mlci.host.baseimage import DebootstrapCounter, StepRunner
from mlci.progress import Phases, tail_lines


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _script(lines: int, code: int = 0) -> list[str]:
    body = "".join(f"echo 'I: Retrieving pkg{i}'; echo 'I: Unpacking pkg{i}'; echo 'noise {i}'; " for i in range(lines))
    return ["sh", "-c", f"{body} exit {code}"]


def _runner(tmp_path: Path, verbose: bool = False) -> tuple[StepRunner, io.StringIO, Path]:
    console = io.StringIO()
    log_path = tmp_path / "step.log"
    runner = StepRunner(Phases(console, verbose=verbose), log_path.open("a", encoding="utf-8"), log_path)
    return runner, console, log_path


def test_plain_stream_gets_one_line_per_phase_without_ansi(monkeypatch):
    console = io.StringIO()
    phases = Phases(console)
    with phases.phase("unpacking") as phase:
        for n in range(1, 51):
            phase.count(f"{n} files")
    with phases.phase("importing"):
        pass
    lines = console.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("mlci: unpacking (50 files, ") and lines[0].endswith("s)")
    assert (
        lines[1].startswith("mlci: importing (") and "\x1b" not in console.getvalue() and "\r" not in console.getvalue()
    )


def test_terminal_redraws_in_place_but_jenkins_and_verbose_get_plain_lines(monkeypatch):
    monkeypatch.delenv("JENKINS_URL", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    tty = Tty()
    with Phases(tty).phase("debootstrap") as phase:
        phase.count("3 retrieved")
    assert "\r\x1b[K" in tty.getvalue() and tty.getvalue().endswith("mlci: debootstrap (3 retrieved, 0.0s)\n")
    verbose = Phases(Tty(), verbose=True)  # -v interleaves the tools' output: no redrawing
    monkeypatch.setenv("JENKINS_URL", "http://ci.example/")  # Jenkins' console, even on a pty
    in_jenkins = Phases(Tty())
    for phases in (verbose, in_jenkins):
        with phases.phase("debootstrap") as phase:
            phase.count("3 retrieved")
        out = phases.stream.getvalue()
        assert "\x1b" not in out and "\r" not in out and out.startswith("mlci: debootstrap (3 retrieved, ")


def test_a_tool_runs_as_one_phase_with_counts_and_its_output_in_the_log(tmp_path):
    runner, console, log_path = _runner(tmp_path)
    runner.run("debootstrap bookworm", _script(30), counter=DebootstrapCounter())
    runner.log.close()
    assert console.getvalue().splitlines() == [
        line
        for line in console.getvalue().splitlines()
        if line.startswith("mlci: debootstrap bookworm (30 retrieved, 30 unpacked, 0 configured, ")
    ]
    assert len(console.getvalue().splitlines()) == 1
    log = log_path.read_text()
    assert "noise 0\n" in log and "noise 29\n" in log and log.startswith("$ sh -c")


def test_verbose_shows_every_line(tmp_path):
    runner, console, _ = _runner(tmp_path, verbose=True)
    runner.run("step", _script(30))
    assert all(f"noise {i}\n" in console.getvalue() for i in range(30))
    assert console.getvalue().splitlines()[-1].startswith("mlci: step (")


def test_a_failing_tool_shows_the_last_40_lines_and_names_the_log(tmp_path):
    runner, console, log_path = _runner(tmp_path)
    with pytest.raises(MlciError) as failure:
        runner.run("debootstrap bookworm", _script(50, code=3))
    out = console.getvalue()
    assert "mlci: debootstrap bookworm FAILED (" in out
    assert f"last 40 lines of {log_path}:" in out
    shown = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert len(shown) == 40 and shown[0] == "noise 36" and shown[-1] == "noise 49" and "noise 35" not in out
    assert str(log_path) in str(failure.value) and "exit 3" in str(failure.value)


def test_tail_reads_only_the_end_of_a_big_log(tmp_path):
    big = tmp_path / "big.log"
    big.write_text("".join(f"line {i}\n" for i in range(200_000)))
    assert tail_lines(big, 3, max_bytes=4096) == ["line 199997", "line 199998", "line 199999"]
    assert tail_lines(tmp_path / "missing.log") == []


@pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap needs root; the test machines run as root")
def test_base_image_build_failure_prints_phases_log_path_and_tail(tmp_path):
    log_path = tmp_path / "base.log"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlci",
            "base-image",
            "build",
            "--tag",
            "mlci-test/never:built",
            "--mirror",
            "http://127.0.0.1:9/debian",
            "--log",
            str(log_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    err = result.stderr
    assert err.startswith(f"mlci: full log: {log_path}\n")
    assert "mlci: debootstrap bookworm from http://127.0.0.1:9/debian FAILED (" in err
    assert "last " in err and f"lines of {log_path}:" in err and "Traceback" not in err
    assert "\x1b" not in err
    assert f"error: debootstrap failed (exit 1); full log: {log_path}" in err
    assert log_path.read_text().startswith("$ debootstrap --variant=minbase")
