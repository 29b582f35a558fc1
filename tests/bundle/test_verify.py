"""`mlci bundle --verify` against crafted archives: a valid bundle passes; every way of breaking
one — a changed byte, an extra or missing file, a link, a device, an unsafe or duplicate name, an
edited manifest, a newer schema, a wrong or damaged image, a truncated archive — fails, naming it."""

from __future__ import annotations

import json
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from mlci.bundle import verify
from mlci.bundle.manifest import BundleError
from mlci.bundle.verify import verify_bundle
from tests.bundle.bundle_support import TOP, Entry, fake_image, good_bundle, layer, rebuilt, sha256, tar_bytes


def problems(path: Path) -> str:
    with pytest.raises(BundleError) as caught:
        verify_bundle(path)
    assert caught.value.exit_code == 1 and caught.value.problems
    return "\n".join(caught.value.problems)


@pytest.mark.parametrize("gz", [True, False])
def test_a_valid_bundle_verifies(tmp_path, gz):
    bundle = good_bundle()
    verified = verify_bundle(bundle.write(tmp_path / "b.tar", gz=gz))
    assert verified.manifest.image.id == bundle.image.id
    assert verified.layers == 2
    assert {f.path for f in verified.manifest.files} == {
        "start.sh",
        "image.tar",
        "model/model.joblib",
        "model/metrics.json",
        "model/sub/extra.txt",
    }


def test_a_changed_model_byte_is_named(tmp_path):
    bundle = good_bundle()
    data = bytearray(bundle.member("model/model.joblib").data)
    data[10] ^= 1
    found = problems(bundle.replace_data("model/model.joblib", bytes(data)).write(tmp_path / "b.tar.gz"))
    assert "'model/model.joblib' was changed" in found


def test_a_file_of_another_size_is_named(tmp_path):
    found = problems(good_bundle().replace_data("model/metrics.json", b"{}").write(tmp_path / "b.tar.gz"))
    assert "'model/metrics.json' is 2 bytes, the manifest says 19" in found


def test_an_extra_file_is_named(tmp_path):
    bundle = good_bundle()
    bundle.extra.append(Entry(f"{TOP}/model/backdoor.py", b"import os\n"))
    assert "'model/backdoor.py' is in the archive but not listed in the manifest" in problems(
        bundle.write(tmp_path / "b.tar.gz")
    )


def test_an_extra_directory_is_named(tmp_path):
    bundle = good_bundle()
    bundle.extra.append(Entry(f"{TOP}/hidden/", type=tarfile.DIRTYPE, mode=0o755))
    assert "directory 'hidden' is in the archive but holds nothing the manifest lists" in problems(
        bundle.write(tmp_path / "b.tar.gz")
    )


def test_a_missing_file_is_named(tmp_path):
    bundle = good_bundle()
    bundle = replace(bundle, members=[m for m in bundle.members if not m.name.endswith("metrics.json")])
    assert "'model/metrics.json' is listed in the manifest but missing" in problems(bundle.write(tmp_path / "b.tar"))


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (Entry(f"{TOP}/model/link", type=tarfile.SYMTYPE, linkname="/etc/shadow"), "a symbolic link to '/etc/shadow'"),
        (Entry(f"{TOP}/model/hard", type=tarfile.LNKTYPE, linkname=f"{TOP}/start.sh"), "a hard link to"),
        (Entry(f"{TOP}/model/dev", type=tarfile.CHRTYPE), "a device file"),
        (Entry(f"{TOP}/model/blk", type=tarfile.BLKTYPE), "a device file"),
        (Entry(f"{TOP}/model/fifo", type=tarfile.FIFOTYPE), "a FIFO"),
        (Entry("/etc/cron.d/evil", b"* * * * * root sh\n"), "an absolute path"),
        (Entry(f"{TOP}/../../evil", b"x"), "'..' segments"),
        (Entry(f"{TOP}/./start.sh", b"x"), "'..' segments"),
        (Entry(f"{TOP}/model/new\nline", b"x"), "control characters"),
        (Entry(f"{TOP}/model/esc\x1b[31m", b"x"), "control characters"),
        (Entry(f"{TOP}/model/back\\slash", b"x"), "backslashes"),
        (Entry(f"{TOP}/start.sh", b"#!/bin/sh\nrm -rf /\n"), "a duplicate name"),
        (Entry(f"{TOP}/model/", type=tarfile.DIRTYPE), "a duplicate name"),
        (Entry("README", b"outside"), "a file outside the bundle's top directory"),
        (Entry(f"{TOP}/model/model.joblib/inner", b"x"), "a member below a file"),
    ],
)
def test_a_hostile_member_is_refused_by_name(tmp_path, entry, why):
    bundle = good_bundle()
    bundle.extra.append(entry)
    found = problems(bundle.write(tmp_path / "b.tar.gz"))
    assert why in found, found
    assert "\x1b" not in found and "\nline" not in found  # names are shown escaped


def test_a_file_where_earlier_members_need_a_directory_is_refused(tmp_path):
    bundle = good_bundle()
    bundle.extra += [Entry(f"{TOP}/model/deep/x", b"1"), Entry(f"{TOP}/model/deep", b"a file named like a directory")]
    assert "a file where earlier members need a directory" in problems(bundle.write(tmp_path / "b.tar"))


def test_members_outside_the_top_directory_are_named(tmp_path):
    bundle = good_bundle()
    bundle.extra.append(Entry("other-v1/", type=tarfile.DIRTYPE))
    assert "members outside the top directory 'digits-v3': 'other-v1'" in problems(bundle.write(tmp_path / "b.tar"))


def test_an_edited_manifest_is_caught(tmp_path):
    bundle = good_bundle()
    edited = bundle.manifest.model_copy(update={"metrics": {"accuracy": 0.999}})
    found = problems(bundle.with_manifest(edited, seal=False).write(tmp_path / "b.tar.gz"))
    assert "manifest.json was changed after the bundle was made" in found


def test_a_resealed_manifest_that_lies_about_a_file_is_caught(tmp_path):
    bundle = good_bundle()
    files = [f.model_copy(update={"size": f.size + 1}) if f.path == "start.sh" else f for f in bundle.manifest.files]
    found = problems(
        bundle.with_manifest(bundle.manifest.model_copy(update={"files": files})).write(tmp_path / "b.tar")
    )
    assert "'start.sh' is" in found and "the manifest says" in found


def test_a_manifest_listing_what_no_bundle_holds_is_refused(tmp_path):
    bundle = good_bundle()
    files = [*bundle.manifest.files, bundle.manifest.files[0].model_copy(update={"path": "../etc/passwd"})]
    found = problems(
        bundle.with_manifest(bundle.manifest.model_copy(update={"files": files})).write(tmp_path / "b.tar")
    )
    assert "the manifest lists '../etc/passwd', which is no part of a bundle" in found


def test_a_newer_schema_says_to_upgrade(tmp_path):
    bundle = good_bundle()
    newer = bundle.manifest.model_copy(update={"schema_version": 2})
    found = problems(bundle.with_manifest(newer).write(tmp_path / "b.tar.gz"))
    assert "schemaVersion 2: the bundle was made by a newer mlci (this one reads up to 1) — upgrade mlci" in found


def test_a_manifest_with_unknown_keys_or_bad_json_is_refused(tmp_path):
    bundle = good_bundle()
    data = bundle.manifest.to_json() | {"surprise": 1}
    members = [*bundle.members, Entry(f"{TOP}/manifest.json", json.dumps(data).encode())]
    path = tmp_path / "b.tar"
    path.write_bytes(tar_bytes(members))
    assert "manifest.json: surprise: Extra inputs are not permitted" in problems(path)


def test_a_bundle_without_a_manifest_is_named(tmp_path):
    path = tmp_path / "b.tar"
    path.write_bytes(tar_bytes(good_bundle().members))
    assert "manifest.json is missing: the archive is truncated, or it is not an mlci bundle" in problems(path)


def content_end(path: Path) -> int:
    """Where the last member's data ends in a plain tar (its end-of-archive marker follows)."""
    with tarfile.open(path) as tar:
        tar.getmembers()
        return tar.offset


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9, 0.999])
def test_a_truncated_archive_is_caught(tmp_path, gz, keep):
    path = good_bundle().write(tmp_path / "b.tar", gz=gz)
    data = path.read_bytes()
    path.write_bytes(data[: int((len(data) if gz else content_end(path)) * keep)])
    assert "truncated" in problems(path)


@pytest.mark.parametrize("marker", [0, 512])
def test_a_plain_tar_cut_in_its_end_marker_is_truncated(tmp_path, marker):
    # every member is whole, but the archive ends before its two zero blocks: cut short in transit
    path = good_bundle().write(tmp_path / "b.tar", gz=False)
    path.write_bytes(path.read_bytes()[: content_end(path) + marker])
    assert "the archive is truncated (its end-of-archive marker is missing)" in problems(path)


@pytest.mark.parametrize("gz", [True, False])
def test_data_after_the_end_of_the_archive_is_named(tmp_path, gz):
    path = good_bundle().write(tmp_path / "b.tar", gz=gz)
    with path.open("ab") as handle:
        handle.write(b"appended after the end")
    found = problems(path)
    assert ("data follows the end of the archive" if not gz else "truncated or corrupt") in found


def test_garbage_is_not_a_bundle(tmp_path):
    path = tmp_path / "b.tar.gz"
    path.write_bytes(b"\x1f\x8b" + b"not gzip at all" * 100)
    assert "the archive is truncated or corrupt" in problems(path)


def test_an_image_of_another_id_is_named(tmp_path):
    bundle = rebuilt(good_bundle(), fake_image([layer({"other": b"image"})]))
    found = problems(bundle.write(tmp_path / "b.tar.gz"))
    assert f"image.tar holds image {bundle.image.id[:19]}…, the manifest names" in found


def test_a_changed_image_layer_is_named(tmp_path):
    image = fake_image()
    image.entries = [
        replace(e, data=layer({"app/serve.py": b"print('evil')\n"})) if e.name.endswith("0/layer.tar") else e
        for e in image.entries
    ]
    bundle = rebuilt(good_bundle(), image)  # the manifest's sha256 of image.tar is right; the layer is not
    found = problems(bundle.write(tmp_path / "b.tar.gz"))
    assert "is not the layer the config names" in found


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda es: [e for e in es if not e.name.endswith(".json") or e.name == "manifest.json"], "config"),
        (lambda es: [e for e in es if e.name != "manifest.json"], "Docker's 'manifest.json' is missing"),
        (lambda es: [*es, Entry("../../escape", b"x")], "'..' segments"),
        (lambda es: [*es, Entry("evil", type=tarfile.SYMTYPE, linkname="/etc/passwd")], "a link out of the archive"),
        (lambda es: [*es, Entry("dev", type=tarfile.CHRTYPE)], "a device file"),
        (lambda es: [replace(e, data=b"[]") if e.name == "manifest.json" else e for e in es], "exactly one image"),
    ],
)
def test_a_damaged_image_archive_is_named(tmp_path, change, why):
    image = fake_image()
    image.entries = change(image.entries)
    found = problems(rebuilt(good_bundle(), image).write(tmp_path / "b.tar"))
    assert "image.tar" in found and why in found, found


def test_an_image_that_is_not_a_tar_is_named(tmp_path):
    bundle = good_bundle()
    junk = b"\x00" * 100 + b"junk"
    image = replace(bundle.image, entries=[])
    bundle = rebuilt(bundle, image).replace_data("image.tar", junk)
    files = [
        f.model_copy(update={"size": len(junk), "sha256": sha256(junk)}) if f.path == "image.tar" else f
        for f in bundle.manifest.files
    ]
    found = problems(
        bundle.with_manifest(bundle.manifest.model_copy(update={"files": files})).write(tmp_path / "b.tar")
    )
    assert "image.tar is not a readable tar archive" in found or "image.tar: Docker's" in found


def test_docker_saves_links_between_identical_layers_are_followed_inside_the_archive(tmp_path):
    same = layer({"a": b"same"})
    bundle = good_bundle(fake_image([same, same], same_layer_linked=True))
    assert verify_bundle(bundle.write(tmp_path / "b.tar")).layers == 2


def test_the_member_count_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(verify, "MAX_MEMBERS", 5)
    assert "more than 5 members" in problems(good_bundle().write(tmp_path / "b.tar"))


def test_the_total_size_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(verify, "MAX_TOTAL_BYTES", 1000)
    assert "more than 1000 bytes in all" in problems(good_bundle().write(tmp_path / "b.tar"))
