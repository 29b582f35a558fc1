"""`mlci versions PROJECT`: the store's versions newest first, as a table or --json."""

from __future__ import annotations

import json

from mlci.cli import main
from tests.record_support import COMMIT, finished_run


def test_versions_lists_newest_first_as_a_table_and_as_json(tmp_path, capsys):
    (tmp_path / "mlci.yaml").write_text(
        "version: 1\nname: t\nartifacts:\n  default: shelf\n  stores:\n"
        "    shelf: {type: local, path: shelf}\n    other: {type: local, path: other}\n"
    )
    root = ["--root", str(tmp_path)]
    assert main([*root, "versions", "digits"]) == 0
    assert "no versions of digits in store 'shelf'" in capsys.readouterr().out
    finished_run(tmp_path, "digits", "job-a", values=(0.91,))
    finished_run(tmp_path, "digits", "job-b", values=(0.95,))
    assert main([*root, "publish", "digits", "job-a"]) == 0
    assert main([*root, "publish", "digits", "job-b", "--approved-by", "alice"]) == 0
    capsys.readouterr()

    assert main([*root, "versions", "digits"]) == 0
    head, newest, oldest = capsys.readouterr().out.splitlines()
    assert head.split()[:6] == ["VERSION", "JOB", "PUBLISHED", "COMMIT", "GATE", "APPROVED"]
    assert newest.split()[:2] == ["v2", "job-b"] and "pass accuracy=0.95" in newest and "alice" in newest
    assert oldest.split()[:2] == ["v1", "job-a"] and COMMIT[:12] in oldest
    assert newest.endswith((tmp_path / "shelf" / "digits" / "job-b").resolve().as_uri())

    assert main([*root, "versions", "digits", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["jobId"], r["approvedBy"]) for r in rows] == [
        ("v2", "job-b", "alice"),
        ("v1", "job-a", None),
    ]
    assert rows[0]["gate"]["value"] == 0.95 and rows[0]["configHash"] is None

    assert main([*root, "versions", "digits", "--store", "other", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main([*root, "versions", "digits", "--store", "nowhere"]) == 2
    assert "no artifact store 'nowhere'" in capsys.readouterr().err
