"""The per-project cache's core (layout, lock, listing, pruning) and `mlci cache ls|prune`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlci.runner import stage_cache as cache
from mlci.runner.container import project_cache
from mlci.runner.stage_spec import StageSpec


def _fill(root: Path, project: str, nbytes: int, age_s: float = 0) -> Path:
    with cache.using(root, project) as directory:
        (directory / "huggingface" / "blob").write_bytes(b"x" * nbytes)
    stamp = time.time() - age_s
    os.utime(root / "locks" / f"{project}.lock", (stamp, stamp))
    return directory


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlci", "cache", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_stage_hook_narrows_the_mount_to_the_project_and_sets_library_caches(tmp_path):
    spec = StageSpec(
        name="train",
        image="img",
        command=["true"],
        env={"MLCI_PROJECT": "alpha", "XDG_CACHE_HOME": "/custom"},
        labels={"mlci.project": "alpha"},
        binds={"/out": {"bind": "/mlci/out", "mode": "rw"}},
        user="1000:1000",
        timeout_s=10,
        project="alpha",
        cache_root=tmp_path,
    )
    with project_cache(spec) as narrowed:
        mounted = {bind["bind"]: src for src, bind in narrowed.binds.items()}
        assert mounted == {"/mlci/cache": str(tmp_path / "projects" / "alpha"), "/mlci/out": "/out"}
        assert narrowed.env["HF_HOME"] == "/mlci/cache/huggingface"
        assert narrowed.env["PIP_CACHE_DIR"] == "/mlci/cache/pip"
        assert narrowed.env["TORCH_HOME"] == "/mlci/cache/torch"
        assert narrowed.env["XDG_CACHE_HOME"] == "/custom"  # the stage's own setting wins
        for sub in ("huggingface", "pip", "torch", "xdg"):
            assert (tmp_path / "projects" / "alpha" / sub).is_dir()
        assert [e.in_use for e in cache.list_caches(tmp_path)] == [True]  # held while the stage runs
    assert [e.in_use for e in cache.list_caches(tmp_path)] == [False]


def test_list_sizes_last_use_and_ignores_links_and_odd_names(tmp_path):
    _fill(tmp_path, "old", 10_000, age_s=3 * 86400)
    _fill(tmp_path, "new", 50_000)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "big").write_bytes(b"y" * 1_000_000)
    (tmp_path / "projects" / "new" / "xdg" / "link").symlink_to(outside)  # never followed
    (tmp_path / "projects" / "evil").symlink_to(outside)
    (tmp_path / "projects" / "Bad Name").mkdir()
    entries = cache.list_caches(tmp_path)
    assert [e.project for e in entries] == ["new", "old"]  # most recently used first
    assert 50_000 <= entries[0].size < 200_000 and 10_000 <= entries[1].size < 100_000


def test_prune_by_age_then_by_size_least_recently_used_first(tmp_path):
    _fill(tmp_path, "a", 100_000, age_s=40 * 86400)
    _fill(tmp_path, "b", 100_000, age_s=5 * 86400)
    _fill(tmp_path, "c", 100_000, age_s=1 * 86400)
    _fill(tmp_path, "d", 100_000)
    assert [e.project for e in cache.prune(tmp_path, older_than_s=30 * 86400, dry_run=True).removed] == ["a"]
    assert (tmp_path / "projects" / "a").is_dir()  # dry run
    result = cache.prune(tmp_path, older_than_s=30 * 86400, max_size=250_000)
    assert sorted(e.project for e in result.removed) == ["a", "b"]
    assert [e.project for e in cache.list_caches(tmp_path)] == ["d", "c"]
    assert not any((tmp_path / "trash").iterdir())


def test_prune_never_removes_a_cache_a_stage_holds_and_the_stage_keeps_its_files(tmp_path):
    _fill(tmp_path, "busy", 100_000, age_s=90 * 86400)
    os.utime(tmp_path / "locks" / "busy.lock", (0, 0))
    with cache.using(tmp_path, "busy") as directory:
        os.utime(tmp_path / "locks" / "busy.lock", (0, 0))  # old, but in use right now
        result = cache.prune(tmp_path, older_than_s=86400, max_size=0)
        assert [e.project for e in result.busy] == ["busy"] and result.removed == []
        assert (directory / "huggingface" / "blob").is_file()
    assert [e.project for e in cache.prune(tmp_path, max_size=0).removed] == ["busy"]
    assert not (tmp_path / "projects" / "busy").exists()


def test_a_stage_starting_during_a_prune_waits_and_gets_a_fresh_cache(tmp_path):
    import threading

    _fill(tmp_path, "p", 1000)
    fd = os.open(tmp_path / "locks" / "p.lock", os.O_RDWR)
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX)  # what prune holds while it renames the cache away
    seen: list[bool] = []

    def stage() -> None:
        with cache.using(tmp_path, "p") as directory:
            seen.append((directory / "huggingface" / "blob").exists())

    worker = threading.Thread(target=stage)
    worker.start()
    worker.join(0.5)
    assert worker.is_alive() and seen == []  # blocked on the prune's lock
    os.rename(tmp_path / "projects" / "p", tmp_path / "gone")
    os.close(fd)
    worker.join(10)
    assert seen == [False]


def test_cache_root_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("MLCI_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_path() == tmp_path / "xdg" / "mlci"
    assert cache.cache_path("/srv/mlci/cache") == Path("/srv/mlci/cache")
    monkeypatch.setenv("MLCI_CACHE_DIR", str(tmp_path / "env"))
    assert cache.cache_path("/srv/mlci/cache") == tmp_path / "env"


def test_cli_ls_and_prune(tmp_path):
    root = tmp_path / "cache"
    _fill(root, "alpha", 200_000, age_s=60 * 86400)
    _fill(root, "beta", 10_000)
    env = {"MLCI_CACHE_DIR": str(root)}
    listing = _cli("ls", env=env)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines()[1].startswith("beta") and "alpha" in listing.stdout
    data = json.loads(_cli("ls", "--json", env=env).stdout)
    assert data["root"] == str(root) and [c["project"] for c in data["caches"]] == ["beta", "alpha"]
    assert data["caches"][1]["bytes"] >= 200_000 and data["caches"][1]["inUse"] is False

    dry = _cli("prune", "--older-than", "30d", "--dry-run", env=env)
    assert dry.returncode == 0 and "would remove alpha" in dry.stdout and (root / "projects" / "alpha").is_dir()
    done = _cli("prune", "--dir", str(root), "--older-than", "30d")
    assert done.returncode == 0 and "removed alpha" in done.stdout
    assert not (root / "projects" / "alpha").exists() and (root / "projects" / "beta").is_dir()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "prune needs --older-than and/or --max-size"),
        (("--older-than", "soon"), "--older-than: 'soon' is not a duration"),
        (("--max-size", "lots"), "--max-size: 'lots' is not a size"),
        (("--max-size", "1.5\nT"), "--max-size: '1.5\\nT' is not a size"),
        (("--older-than", "2w\n"), "--older-than: '2w\\n' is not a duration"),
        (("--max-size", "-1g"), "--max-size: '-1g' is not a size"),
    ],
)
def test_cli_prune_bad_input_is_exit_2(tmp_path, args, message):
    result = _cli("prune", *args, env={"MLCI_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_cli_takes_the_root_from_the_manifest_inside_a_monorepo(tmp_path):
    root = tmp_path / "mono"
    root.mkdir()
    configured = tmp_path / "srv-cache"
    (root / "mlci.yaml").write_text(f"version: 1\nname: demo\nrunner: {{cache_dir: {configured}}}\n")
    _fill(configured, "alpha", 1000)
    env = {k: v for k, v in os.environ.items() if k != "MLCI_CACHE_DIR"}
    done = subprocess.run(
        [sys.executable, "-m", "mlci", "--root", str(root), "cache", "ls", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["root"] == str(configured) and [c["project"] for c in data["caches"]] == ["alpha"]


def _aged(path: Path, age_s: float) -> Path:
    stamp = time.time() - age_s
    for top, dirs, files in os.walk(path):  # links are not followed
        for name in dirs + files:
            os.utime(os.path.join(top, name), (stamp, stamp), follow_symlinks=False)
    os.utime(path, (stamp, stamp))
    return path


def test_prune_removes_what_killed_commands_left_and_nothing_in_use(tmp_path):
    root = tmp_path / "cache"
    versions = root / "deploy" / "digits"
    served = versions / "0123456789ab-mlci-release-3"  # a deployed copy: a container may mount it
    (served / "model.bin").parent.mkdir(parents=True)
    (served / "model.bin").write_bytes(b"w")
    _aged(served, 30 * 86400)
    killed = versions / ".0123456789ab-mlci-release-4.partial-k1"
    (killed / "sub").mkdir(parents=True)
    (killed / "sub" / "half.bin").write_bytes(b"x" * 4096)
    _aged(killed, 7 * 3600)
    stale = versions / ".0123456789ab-mlci-release-2.stale-0a1b2c3d"
    stale.mkdir()
    _aged(stale, 7 * 3600)
    # a fetch still going: its directories are old, a file deep inside was written just now
    fetching = versions / ".0123456789ab-mlci-release-5.partial-f2"
    (fetching / "meta").mkdir(parents=True)
    _aged(fetching, 7 * 3600)
    (fetching / "meta" / "part.bin").write_bytes(b"y")
    os.utime(fetching / "meta", (time.time() - 7 * 3600,) * 2)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("k")
    (killed / "link").symlink_to(outside)
    _aged(killed, 7 * 3600)
    pruned = root / "trash" / "alpha-1a2b3c4d"
    (pruned / "pip").mkdir(parents=True)

    dry = _cli("prune", "--dir", str(root), "--older-than", "30d", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would remove deploy/digits/.0123456789ab-mlci-release-4.partial-k1" in dry.stdout
    assert killed.exists() and pruned.exists()

    done = _cli("prune", "--dir", str(root), "--older-than", "30d")
    assert done.returncode == 0, done.stderr
    assert "removed trash/alpha-1a2b3c4d" in done.stdout
    assert not killed.exists() and not stale.exists() and not pruned.exists()
    assert fetching.exists() and served.exists()  # a fetch still writing; a copy mlci made whole
    assert (outside / "keep").read_text() == "k"  # a link inside a leftover is removed, never followed
