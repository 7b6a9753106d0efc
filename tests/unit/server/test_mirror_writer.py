"""The mirror writer's rules, on a temporary directory: a timestamp is moved only after the files it
names are on disk, never to a lower version, and a directory of another repository is refused."""

from __future__ import annotations

import json
import os
import threading

import pytest

from edgekit.errors import BadInput
from edgekit.server.mirror import writer


def signed(role: str, version: int, meta: dict | None = None) -> bytes:
    body = {"_type": role, "version": version, **({"meta": meta} if meta is not None else {})}
    return json.dumps({"signatures": [], "signed": body}, sort_keys=True).encode()


def timestamp(version: int, snapshot: int) -> bytes:
    return signed("timestamp", version, {"snapshot.json": {"version": snapshot}})


def chain(version: int) -> dict[str, bytes]:
    """Targets and snapshot ``version`` (the snapshot naming those targets), and root 1."""
    return {"1.root.json": signed("root", 1), f"{version}.targets.json": signed("targets", version),
            f"{version}.snapshot.json": signed("snapshot", version, {"targets.json": {"version": version}})}


def served(directory) -> dict:
    return json.loads((directory / "metadata" / "timestamp.json").read_bytes())["signed"]


def test_files_land_before_the_timestamp_that_names_them(tmp_path):
    result = writer.write(tmp_path, chain(1), {}, timestamp(1, 1))
    assert result.written[-1] == "metadata/timestamp.json" and result.timestamp_moved
    assert {"metadata/1.root.json", "metadata/1.targets.json", "metadata/1.snapshot.json"} <= set(result.written)
    assert served(tmp_path)["version"] == 1
    mode = (tmp_path / "metadata" / "1.snapshot.json").stat().st_mode & 0o777
    assert mode == writer.FILE_MODE  # nginx reads it, maybe as another user


def test_a_timestamp_naming_a_missing_snapshot_is_refused_and_the_old_one_stays(tmp_path):
    writer.write(tmp_path, chain(1), {}, timestamp(1, 1))
    with pytest.raises(BadInput, match="2.snapshot.json"):
        writer.write(tmp_path, {}, {}, timestamp(2, 2))
    assert served(tmp_path)["version"] == 1


def test_a_snapshot_naming_missing_targets_keeps_the_timestamp_back(tmp_path):
    writer.write(tmp_path, chain(1), {}, timestamp(1, 1))
    lonely = {"2.snapshot.json": signed("snapshot", 2, {"targets.json": {"version": 2}})}
    with pytest.raises(BadInput, match="2.targets.json"):
        writer.write(tmp_path, lonely, {}, timestamp(2, 2))
    assert served(tmp_path)["version"] == 1


def test_new_timestamp_rollback_is_ignored(tmp_path):
    writer.write(tmp_path, {**chain(1), **chain(2)}, {}, timestamp(5, 2))
    older = writer.write(tmp_path, {}, {}, timestamp(4, 1))
    assert not older.timestamp_moved and older.timestamp_version == 5 and served(tmp_path)["version"] == 5


def test_a_directory_of_another_repository_is_refused_before_anything_changes(tmp_path):
    writer.write(tmp_path, chain(1), {}, timestamp(1, 1))
    other = {**chain(2), "1.root.json": signed("root", 1) + b" "}
    with pytest.raises(BadInput, match="another repository"):
        writer.write(tmp_path, other, {}, timestamp(2, 2))
    assert not (tmp_path / "metadata" / "2.snapshot.json").exists() and served(tmp_path)["version"] == 1


def test_two_timestamps_of_one_size_in_one_second_get_different_modification_seconds(tmp_path):
    """nginx's ETag is the file's mtime (seconds) and size: the same pair would answer 304 with a stale file."""
    writer.write(tmp_path, {**chain(1), **chain(2)}, {}, timestamp(1, 1))
    first = (tmp_path / "metadata" / "timestamp.json").stat()
    writer.write(tmp_path, {}, {}, timestamp(2, 2))
    second = (tmp_path / "metadata" / "timestamp.json").stat()
    assert first.st_size == second.st_size and int(second.st_mtime) > int(first.st_mtime)


def test_archives_are_hard_linked_from_the_blob_store_and_a_missing_one_is_reported(tmp_path):
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    (blobs / "aa").write_bytes(b"archive")
    mirror = tmp_path / "mirror"
    result = writer.write(mirror, chain(1), {"m/1/aa.onnx.tar": blobs / "aa", "m/2/bb.onnx.tar": blobs / "bb"}, timestamp(1, 1))
    placed = mirror / "targets" / "m" / "1" / "aa.onnx.tar"
    assert placed.read_bytes() == b"archive" and os.path.samefile(placed, blobs / "aa")
    assert result.missing_archives == ["m/2/bb.onnx.tar"] and result.timestamp_moved


def test_a_file_where_the_mirror_should_be_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(BadInput, match="not a directory"):
        writer.write(tmp_path / "file", chain(1), {}, timestamp(1, 1))


def test_a_timestamp_file_name_is_not_taken_as_versioned_metadata(tmp_path):
    with pytest.raises(BadInput, match="versioned"):
        writer.write(tmp_path, {"timestamp.json": timestamp(1, 1)}, {}, timestamp(1, 1))


def test_concurrent_writers_end_at_the_highest_version(tmp_path):
    files = {name: data for version in range(1, 21) for name, data in chain(version).items()}
    writer.write(tmp_path, files, {}, timestamp(1, 1))
    errors = []

    def write(versions):
        try:
            for version in versions:
                writer.write(tmp_path, {}, {}, timestamp(version, version))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(range(start, 21, 2),)) for start in (2, 3)]
    threads.append(threading.Thread(target=write, args=(range(20, 1, -1),)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and served(tmp_path)["version"] == 20
