"""Unpacking a delivery archive (edgekit_runtime.archive.unpack), which the server runs on every
upload and the agent on every download: a hostile archive is refused, before any file is written."""

from __future__ import annotations

import pytest
from edgekit_runtime.archive import ArchiveTooLarge, unpack
from edgekit_runtime.errors import IntegrityError
from tests_support import HOSTILE_ARCHIVES, artifact_tar


@pytest.mark.parametrize("attack", list(HOSTILE_ARCHIVES))
def test_a_hostile_archive_is_refused_before_any_file_is_written(attack, tmp_path):
    files, manifest, reason = HOSTILE_ARCHIVES[attack]
    with pytest.raises(IntegrityError) as refused:
        unpack(artifact_tar(files, manifest), tmp_path / "out")
    assert reason in refused.value.one_line()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "names, reason",
    [
        (["Model.onnx", "model.onnx"], "on a case-insensitive file system"),
        (["caf\u00e9", "cafe\u0301"], "on a case-insensitive file system"),  # one name, NFC and NFD
        (["a//b"], "empty, '.' or '..' path component"),
        (["./a"], "empty, '.' or '..' path component"),
        (["a/"], "empty, '.' or '..' path component"),
        (["../escape"], "empty, '.' or '..' path component"),
        (["/etc/passwd"], "not a relative path"),
        (["a\\b"], "not a relative path"),
        (["line\nbreak"], "not a relative path"),
        (["/".join(["d" * 200] * 6)], "longer than 1024 bytes"),
        (["a/b", "A"], "is a file and also a directory of another member"),
    ],
    ids=["names differing in case", "names differing in unicode normalisation", "an empty component", "a dot component",
         "a trailing slash", "a parent component", "an absolute name", "a backslash", "a control character",
         "a name longer than a path may be", "a file that is a directory up to case"],
)
def test_names_a_file_system_would_refuse_alias_or_escape_are_refused(names, reason, tmp_path):
    with pytest.raises(IntegrityError) as refused:
        unpack(artifact_tar({name: b"x" for name in names}), tmp_path / "out")
    assert reason in refused.value.one_line()
    assert not (tmp_path / "out").exists()


def test_a_member_that_differs_from_its_manifest_entry_is_refused_before_writing(tmp_path):
    archive = artifact_tar({"model.onnx": b"abc", "schema.json": b"{}"})
    altered = archive.replace(b"abc", b"abd")
    with pytest.raises(IntegrityError, match="'model.onnx': sha256 does not match its artifact.json"):
        unpack(altered, tmp_path / "altered")
    manifest = {"model.onnx": {"sha256": "0" * 64, "size": 4}}
    with pytest.raises(IntegrityError, match="'model.onnx': size is 3 bytes, its artifact.json says 4"):
        unpack(artifact_tar({"model.onnx": b"abc"}, manifest), tmp_path / "short")
    assert not (tmp_path / "altered").exists() and not (tmp_path / "short").exists()


@pytest.mark.parametrize("entry", [None, [], {"sha256": "x" * 64, "size": 1}, {"sha256": "0" * 64, "size": True},
                                   {"sha256": "0" * 64, "size": -1}, {"sha256": "0" * 64}, {"size": 1}],
                         ids=["null", "a list", "a sha256 that is not hex", "a size that is a bool", "a negative size",
                              "no size", "no sha256"])
def test_manifest_entries_of_the_wrong_types_are_refused(entry, tmp_path):
    with pytest.raises(IntegrityError, match=r"entry 'm' is not \{sha256, size\}"):
        unpack(artifact_tar({"m": b"x"}, {"m": entry}), tmp_path / "out")


def test_the_callers_bounds_on_members_and_bytes_are_kept(tmp_path):
    files = {f"f{index}": b"0123456789" for index in range(9)}
    with pytest.raises(ArchiveTooLarge, match="has more than 9 members") as members:
        unpack(artifact_tar(files), tmp_path / "out", max_members=9)
    with pytest.raises(ArchiveTooLarge, match="unpacks to more than 80 bytes") as size:
        unpack(artifact_tar(files), tmp_path / "out", max_bytes=80)
    assert (members.value.bound, size.value.bound) == ("members", "bytes")
    assert not (tmp_path / "out").exists()
    assert unpack(artifact_tar(files), tmp_path / "out", max_members=10)["files"].keys() == files.keys()
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == sorted(["artifact.json", *files])
