"""mlci.boundary: one policy for what crosses the container boundary (no engine needed here; the
same cases on the real engine are in test_hostile_outputs.py)."""

from __future__ import annotations

import os
import socket
import stat

import pytest

from mlci.boundary import BoundaryError, check_input_file, copy_outputs, read_small_file, scan_outputs
from mlci.errors import UsageError
from mlci.manifest.schema import Gate
from mlci.run.gate import judge, read_metrics


@pytest.fixture
def out(tmp_path):
    root = tmp_path / "out"
    (root / "sub").mkdir(parents=True)
    (root / "model.bin").write_bytes(b"weights" * 100)
    (root / "sub" / "notes.txt").write_text("hello")
    return root


def test_regular_files_and_directories_cross_and_copy_exactly(out, tmp_path):
    (out / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(out / "run.sh", 0o4755)  # setuid must not survive the copy
    files = scan_outputs(out)
    assert [f.rel for f in files] == ["model.bin", "run.sh", "sub/notes.txt"]
    dest = tmp_path / "dest"
    dest.mkdir()
    copy_outputs(files, dest)
    assert (dest / "model.bin").read_bytes() == b"weights" * 100
    assert (dest / "sub" / "notes.txt").read_text() == "hello"
    assert stat.S_IMODE(os.stat(dest / "run.sh").st_mode) == 0o755


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda root: (root / "x").symlink_to("/etc/shadow"), "x: a symbolic link to '/etc/shadow'"),
        (lambda root: (root / "inside").symlink_to("model.bin"), "inside: a symbolic link to 'model.bin'"),
        (lambda root: (root / "dangling").symlink_to("/nonexistent"), "dangling: a symbolic link"),
        (lambda root: ((root / "a").symlink_to("b"), (root / "b").symlink_to("a")), "a: a symbolic link to 'b'"),
        (lambda root: (root / "sub" / "up").symlink_to(".."), "sub/up: a symbolic link to '..'"),
        (lambda root: os.mkfifo(root / "fifo"), "fifo: a FIFO"),
        (lambda root: socket.socket(socket.AF_UNIX).bind(str(root / "sock")), "sock: a socket"),
    ],
    ids=["link-out", "link-in", "dangling", "loop", "dir-link", "fifo", "socket"],
)
def test_links_and_special_files_are_refused_by_name(out, make, expected):
    make(out)
    with pytest.raises(BoundaryError) as info:
        scan_outputs(out)
    assert expected in str(info.value)
    assert "regular files" in info.value.hint


def test_every_refusal_is_listed_not_just_the_first(out):
    for i in range(12):
        (out / f"link{i:02}").symlink_to("/etc/passwd")
    with pytest.raises(BoundaryError) as info:
        scan_outputs(out)
    assert len(info.value.refusals) == 12
    assert "(and 2 more)" in str(info.value)


def test_a_sparse_file_is_refused_before_it_is_read(out):
    with open(out / "zeros", "wb") as handle:
        handle.truncate(2 << 30)  # 2 GiB apparent, nothing written
    with pytest.raises(BoundaryError, match=r"zeros: a sparse file \(2\.0 GiB apparent"):
        scan_outputs(out)


def test_size_and_count_limits_are_checked_before_copying(out):
    with pytest.raises(BoundaryError, match="over the 100 B limit") as info:
        scan_outputs(out, max_bytes=100)
    assert "runner.max_output_size" in info.value.hint
    with pytest.raises(BoundaryError, match="more than 1 files"):
        scan_outputs(out, max_files=1)


def test_a_file_swapped_for_a_link_after_the_scan_is_not_followed(out, tmp_path):
    files = scan_outputs(out)
    (out / "model.bin").unlink()
    (out / "model.bin").symlink_to("/etc/passwd")
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(BoundaryError, match=r"model\.bin"):
        copy_outputs(files, dest)


def test_inputs_mounted_must_be_regular_files_inside_the_project(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "config.yaml").symlink_to("/etc/hostname")
    with pytest.raises(UsageError, match="is a symbolic link"):
        check_input_file(project / "config.yaml", "config.yaml", within=project)
    (project / "config.yaml").unlink()
    os.mkfifo(project / "config.yaml")
    with pytest.raises(UsageError, match="a FIFO"):
        check_input_file(project / "config.yaml", "config.yaml", within=project)
    (project / "config.yaml").unlink()
    (project / "config.yaml").write_text("lr: 1\n")
    assert check_input_file(project / "config.yaml", "config.yaml", within=project) == (project / "config.yaml")


def test_small_files_are_read_bounded_and_never_through_links(tmp_path):
    (tmp_path / "ok").write_bytes(b"12")
    assert read_small_file(tmp_path / "ok", max_bytes=10) == b"12"
    (tmp_path / "big").write_bytes(b"x" * 11)
    assert "over the" in read_small_file(tmp_path / "big", max_bytes=10)
    (tmp_path / "link").symlink_to(tmp_path / "ok")
    assert "symbolic link" in read_small_file(tmp_path / "link", max_bytes=10)
    os.mkfifo(tmp_path / "fifo")
    assert read_small_file(tmp_path / "fifo", max_bytes=10) == "a FIFO"
    assert read_small_file(tmp_path / "missing", max_bytes=10) == "not written"


# ------------------------------------------------------------------ metrics.json, named precisely

GATE = Gate(metric="accuracy", min=0.5)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"accuracy": NaN}', "metric 'accuracy' in metrics.json is nan, not a finite number"),
        ('{"accuracy": Infinity}', "metric 'accuracy' in metrics.json is inf, not a finite number"),
        ('{"accuracy": "0.9"}', "metric 'accuracy' in metrics.json is a string, not a number"),
        ('{"accuracy": null}', "metric 'accuracy' in metrics.json is null, not a number"),
        ('{"accuracy": 1' + "0" * 400 + "}", "metric 'accuracy' in metrics.json is too large for a number"),
        ('{"accuracy": 0.9, "accuracy": 0.1}', "metrics.json: duplicate key 'accuracy' — write each metric once"),
        ('{"accuracy": ' + "[" * 100_000 + "]" * 100_000 + "}", "metrics.json is nested too deeply"),
        ('{"accuracy": 1' + "0" * 5000 + "}", "metrics.json is not valid JSON"),
        ("[0.9]", "metrics.json must be a flat JSON object of numbers, not a list"),
    ],
    ids=["nan", "inf", "string", "null", "huge-float", "duplicate", "deep", "huge-int", "list"],
)
def test_unusable_metrics_are_named_precisely(tmp_path, content, reason):
    (tmp_path / "metrics.json").write_text(content)
    verdict = judge(GATE, *read_metrics(tmp_path))
    assert verdict.passed is False
    assert verdict.reason.startswith(reason), verdict.reason
    assert "no metrics.json written" not in verdict.reason


def test_metrics_json_that_is_a_directory_or_a_link_is_named(tmp_path):
    (tmp_path / "metrics.json").mkdir()
    assert "metrics.json is a directory" in judge(GATE, *read_metrics(tmp_path)).reason
    (tmp_path / "metrics.json").rmdir()
    (tmp_path / "metrics.json").symlink_to("/etc/passwd")
    assert "metrics.json is a symbolic link" in judge(GATE, *read_metrics(tmp_path)).reason


def test_metric_names_with_control_characters_are_rejected_not_printed(tmp_path):
    (tmp_path / "metrics.json").write_text('{"accuracy": 0.9, "\\u001b[2Jpwned\\n": 1, "val/acc top-1": 0.8}')
    values, error, rejected = read_metrics(tmp_path)
    assert values == {"accuracy": 0.9, "val/acc top-1": 0.8} and error is None
    assert rejected == {"\\x1b[2Jpwned\\n": "a name with control characters or over 128 long"}
