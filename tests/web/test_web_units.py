"""The dashboard's pure parts: the catalogue, language choice, time formats, compare, log reading."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from mlci.record.model import Experiment
from mlci.record.statuses import AttemptStatus, BuildStatus, PhaseStatus, RunStatus, StageStatus
from mlci.web import i18n, logs
from mlci.web.compare import compare
from mlci.web.messages import LANGS, MESSAGES
from tests.record_support import finished_run


def test_every_message_has_every_language_and_every_status_a_label():
    for key, entry in MESSAGES.items():
        assert set(entry) == set(LANGS), key
        assert all(text.strip() for text in entry.values()), key
    statuses = {s.value for enum in (RunStatus, BuildStatus, PhaseStatus, AttemptStatus, StageStatus) for s in enum}
    assert {s for s in statuses if f"status.{s}" not in MESSAGES} == set()
    assert i18n.status_label("ja", "Build Failed") == "ビルド失敗"
    assert i18n.status_label("ja", "Something New") == "Something New"


@pytest.mark.parametrize(
    ("query", "header", "expected"),
    [
        ("ja", "en-US", "ja"),
        (None, "ja-JP,ja;q=0.9,en;q=0.8", "ja"),
        (None, "en;q=0.2, ja;q=0.9", "ja"),
        (None, "fr-FR, de;q=0.9", "en"),
        ("xx", "ja", "ja"),
        (None, "ja;q=abc, en", "en"),
    ],
)
def test_language_from_request(query, header, expected):
    assert i18n.from_request(query, header) == expected


def test_language_of_the_command_line():
    assert i18n.from_environment({"LANG": "ja_JP.UTF-8"}) == "ja"
    assert i18n.from_environment({"MLCI_LANG": "en", "LANG": "ja_JP.UTF-8"}) == "en"
    assert i18n.from_environment({"LC_ALL": "C"}) == "en"
    assert i18n.from_environment({}) == "en"


def test_times_are_shown_in_the_host_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert i18n.format_time("ja", "2026-06-18T14:30:00.000Z") == "2026年6月18日 23:30:00 JST"
        assert i18n.format_time("en", "2026-06-18T14:30:00.000Z") == "2026-06-18 23:30:00 JST"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert i18n.format_time("en", "not a time") == "not a time"


def test_compare_lists_the_union_of_overrides_and_metrics(tmp_path):
    left = finished_run(tmp_path, "p", "a", values=(0.8,), extra_metrics={"loss": 0.3}).state
    right = finished_run(tmp_path, "p", "b", values=(0.95,)).state
    right.experiment = Experiment(name="wide", overrides={"model.width": 256})
    rows = {(r.section, r.name): r for r in compare(left, right)}
    assert rows[("metric", "loss")].left == 0.3 and rows[("metric", "loss")].right is None
    assert rows[("override", "model.width")].differs
    assert rows[("run", "commit")].differs is False
    assert rows[("run", "status")].left == "Failed" and rows[("run", "status")].right == "Succeeded"


def test_log_pieces_end_on_whole_characters_and_the_tail_on_a_line(tmp_path):
    record = finished_run(tmp_path, "p", "a", values=(0.95,))
    ref = logs.find_ref(record, "1-0")
    path = record.path(ref.relative)
    path.write_bytes("ログ".encode() * 10)  # 3 bytes a character
    chunk = logs.read_chunk(record, ref, 0, limit=7)
    assert chunk.text == "ログ" and chunk.end == 6
    rest = logs.read_chunk(record, ref, chunk.end)
    assert rest.text == "ログ" * 9
    path.write_bytes(b"x" * (logs.TAIL_BYTES + 10) + b"\nlast line\n")
    tail = logs.read_chunk(record, ref, None)
    assert tail.text == "last line\n"


def test_a_symlinked_directory_on_the_way_to_a_log_is_refused(tmp_path):
    record = finished_run(tmp_path, "p", "a", values=(0.95,))
    ref = logs.find_ref(record, "1-0")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "train.log").write_text("secret\n")
    attempt = record.dir / "attempt-1"
    shutil.rmtree(attempt)
    attempt.symlink_to(outside)
    assert logs.read_chunk(record, ref, 0).exists is False
    bad = logs.LogRef("x", "x", "../../../outside/train.log")
    assert logs.read_chunk(record, bad, 0).exists is False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_command_speaks_japanese_and_serves_a_runs_directory_without_a_checkout(tmp_path):
    runs = tmp_path / "srv-runs"
    finished_run(tmp_path / "checkout", "digits", "job-1")
    (tmp_path / "checkout" / ".mlci" / "runs").rename(runs)
    port = _free_port()
    env = {**os.environ, "MLCI_LANG": "ja"}
    env.pop("MLCI_RUNS_DIR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlci", "dashboard", "--port", str(port), "--runs-dir", str(runs)],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first = proc.stderr.readline()
        assert first == f"mlci ダッシュボードを http://127.0.0.1:{port}/ で公開中（ジョブの記録: {runs}）\n"
        assert proc.stderr.readline() == "閲覧専用: ログインは設定されていません\n"
        for _ in range(100):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/r/digits/job-1", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert 'id="job-id">job-1<' in body
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_command_warns_when_bound_beyond_loopback():
    from mlci.commands.dashboard import _loopback

    assert _loopback("127.0.0.1") and _loopback("::1") and _loopback("localhost")
    assert not _loopback("0.0.0.0") and not _loopback("192.168.1.5")


def test_doctor_says_whether_the_dashboard_answers(site):
    from types import SimpleNamespace

    from mlci.host.dashboard_check import dashboard_check

    port = int(site.url.rsplit(":", 1)[1])
    up = dashboard_check(SimpleNamespace(dashboard=SimpleNamespace(enabled=True, bind="127.0.0.1", port=port)))
    assert up.ok is True and up.detail == f"http://127.0.0.1:{port}/ answers"
    down = dashboard_check(SimpleNamespace(dashboard=SimpleNamespace(enabled=True, bind="0.0.0.0", port=_free_port())))
    assert down.ok is False and "does not answer" in down.detail and not down.required
    assert site.jenkins.url.startswith("http://127.0.0.1:")  # (another server on loopback: not a dashboard)
    jenkins_port = int(site.jenkins.url.rstrip("/").rsplit(":", 1)[1])
    other = dashboard_check(
        SimpleNamespace(dashboard=SimpleNamespace(enabled=True, bind="127.0.0.1", port=jenkins_port))
    )
    assert other.ok is False


def test_validate_warns_about_a_dashboard_beyond_loopback_and_locates_bad_values(tmp_path, capsys):
    from mlci.cli import main

    (tmp_path / "mlci.yaml").write_text("version: 1\nname: t\ndashboard: {enabled: true, bind: 192.168.1.5}\n")
    assert main(["--root", str(tmp_path), "validate"]) == 0
    assert "mlci.yaml:3:34: dashboard.bind: dashboard is published on 192.168.1.5, reachable beyond this host" in (
        capsys.readouterr().err
    )
    (tmp_path / "mlci.yaml").write_text("version: 1\nname: t\ndashboard: {password: hunter2}\nlocale: fr\n")
    assert main(["--root", str(tmp_path), "validate"]) == 2
    err = capsys.readouterr().err
    assert "mlci.yaml:3:23: dashboard.password: invalid value 'hunter2' — name a secret" in err
    assert "mlci.yaml:4:9: locale: must be one of 'en' or 'ja' — got 'fr'" in err


def test_a_taken_port_is_a_usage_error(tmp_path, capsys):
    from mlci.cli import main

    (tmp_path / "mlci.yaml").write_text("version: 1\nname: t\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--root", str(tmp_path), "dashboard", "--port", str(port)]) == 2
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use — pick another --port" in (
        capsys.readouterr().err
    )


def test_the_cache_reads_again_only_the_project_whose_record_changed(tmp_path, monkeypatch):
    import mlci.web.cache as cache_module
    from mlci.record.model import RunStatus

    monkeypatch.delenv("MLCI_RUNS_DIR", raising=False)
    for project in ("alpha", "beta"):
        for n in range(3):
            finished_run(tmp_path, project, f"{project}-{n}", values=(0.95,), files={"m": b"x"})
    read: list[str | None] = []
    real = cache_module.iter_records

    def counting(root, project=None, **kwargs):
        read.append(project)
        return real(root, project, **kwargs)

    monkeypatch.setattr(cache_module, "iter_records", counting)
    cache = cache_module.RecordCache(tmp_path)
    records, _ = cache.records()
    assert sorted(read) == ["alpha", "beta"] and len(records) == 6
    assert [r.job_id for r in records] == [r.job_id for r in real(tmp_path, report=None)]  # the same order
    cache.records()
    assert len(read) == 2  # nothing changed, nothing read
    changed = finished_run(tmp_path, "beta", "beta-new", values=(0.95,), close=False)
    changed.close(RunStatus.CANCELLED, "stopped")
    records, _ = cache.records()
    assert read[2:] == ["beta"]
    assert records[0].job_id == "beta-new" and records[0].status == RunStatus.CANCELLED
