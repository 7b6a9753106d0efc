"""The agent against the attacks TUF names, one test each, over HTTP on 127.0.0.1 from an in-memory
repository simulator (tests/repository_simulator.py). The agent runs unmodified. In every case the
device keeps its current model and reports what it rejected."""

from __future__ import annotations

import copy
import io
import json
import tarfile
import time
from pathlib import Path

import pytest
from edgekit_runtime.agent.config import AgentConfig
from edgekit_runtime.agent.state import Identity, StateDir
from edgekit_runtime.agent.update import Agent
from edgekit_runtime.archive import pack
from repository_simulator import RepositorySimulator, expiry, serve
from tests_support import pi4_onnx

MODEL, PROFILE = "bc", "raspberry-pi-4b"


@pytest.fixture(scope="module")
def archives(trained_bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks")
    return [pack(artifact) for artifact in pi4_onnx(trained_bundle, root, "v1", "v2")]


@pytest.fixture
def repo(archives):
    """A repository serving release 1 to every Pi 4."""
    simulator = RepositorySimulator()
    simulator.add_release(MODEL, 1, archives[0], [PROFILE])
    simulator.next_versions()
    simulator.publish()
    return simulator


@pytest.fixture
def device(repo, tmp_path):
    """An agent provisioned with the simulator's root v1, with release 1 installed."""
    with serve(repo) as url:
        state = StateDir(tmp_path / "device")
        state.save_identity(Identity("dev-1", url, PROFILE, MODEL), "ekd_token", repo.files["metadata/1.root.json"])
        agent = Agent(state, AgentConfig(download_grace_seconds=1.0, min_download_bytes_per_second=50_000,
                                         request_timeout_seconds=2.0))
        assert agent.once().outcome == "installed"
        yield agent


def release_two(repo, archives, **options) -> str:
    path = repo.add_release(MODEL, 2, archives[1], [PROFILE], **options)
    repo.next_versions()
    repo.publish()
    return path


def assert_kept_and_reported(agent: Agent, repo: RepositorySimulator, outcome: str = "rejected") -> dict:
    result = agent.once()
    assert result.outcome == outcome, result
    assert agent.current_target() == f"{MODEL}/1/onnx.tar"
    assert agent.smoke(agent.state.pointer("current"), None) == ""  # the current model still loads and passes
    report = repo.reports[-1]
    assert report["outcome"] == outcome and report["installed"] == f"{MODEL}/1/onnx.tar" and report["detail"]
    return report


def flip(offset: int) -> callable:
    def tamper(data: bytes) -> bytes:
        changed = bytearray(data)
        changed[offset % len(changed)] ^= 0x01
        return bytes(changed)
    return tamper


def test_arbitrary_artifact_a_flipped_byte_in_the_artifact(device, repo, archives):
    path = release_two(repo, archives)
    served = next(name for name in repo.files if name.startswith(f"targets/{path.rsplit('/', 1)[0]}/"))
    repo.tamper[served] = flip(len(archives[1]) // 2)
    report = assert_kept_and_reported(device, repo)
    assert "LengthOrHashMismatch" in report["detail"]
    del repo.tamper[served]
    assert device.once().outcome == "installed"  # the mirror is fixed: the signed release installs


def test_arbitrary_artifact_a_flipped_byte_in_a_signature(device, repo, archives):
    release_two(repo, archives)
    name = f"metadata/{repo.targets.signed.version}.targets.json"
    signature_at = repo.files[name].index(b'"sig":"') + 8
    repo.tamper[name] = flip(signature_at)
    # the snapshot pins the targets file's hash: the edit is caught before the signature is even checked
    assert "LengthOrHashMismatch" in assert_kept_and_reported(device, repo)["detail"]
    repo.tamper.clear()
    timestamp_signature = repo.files["metadata/timestamp.json"].index(b'"sig":"') + 8
    repo.tamper["metadata/timestamp.json"] = flip(timestamp_signature)  # nothing pins timestamp.json: its signature must hold
    assert "timestamp was signed by 0/1 keys" in assert_kept_and_reported(device, repo)["detail"]


def test_arbitrary_artifact_a_flipped_byte_in_metadata(device, repo, archives):
    release_two(repo, archives)
    # the snapshot's declared length, changed in the signed part of timestamp.json
    repo.tamper["metadata/timestamp.json"] = lambda data: data.replace(b'"length":', b'"length":1', 1)
    assert "timestamp was signed by 0/1 keys" in assert_kept_and_reported(device, repo)["detail"]


def test_rollback_to_an_older_signed_release(device, repo, archives):
    old_files = dict(repo.files)  # what release 1's metadata looked like
    release_two(repo, archives)
    assert device.once().outcome == "installed"
    repo.files = old_files  # an attacker replays the older, validly signed metadata
    result = device.once()
    assert result.outcome == "rejected" and "BadVersionNumber" in result.detail
    assert device.current_target() == f"{MODEL}/2/onnx.tar"


def test_indefinite_freeze_stale_metadata_replayed_after_expiry(device, repo, archives):
    repo.timestamp.signed.expires = expiry(days=-1)
    repo.timestamp.signed.version += 1
    repo.sign_timestamp()
    assert "Expired" in assert_kept_and_reported(device, repo)["detail"]


def test_mix_and_match_metadata_from_different_versions(device, repo, archives):
    first_snapshot = repo.snapshot.signed.version
    release_two(repo, archives)
    newest = f"metadata/{repo.snapshot.signed.version}.snapshot.json"
    repo.files[newest] = repo.files[f"metadata/{first_snapshot}.snapshot.json"]  # an old snapshot under the new name
    assert_kept_and_reported(device, repo)


def test_endless_data_an_artifact_larger_than_declared(device, repo, archives):
    path = release_two(repo, archives)
    served = next(name for name in repo.files if name.startswith(f"targets/{path.rsplit('/', 1)[0]}/"))
    repo.tamper[served] = lambda data: data + b"\0" * (1 << 20)
    assert "DownloadLengthMismatch" in assert_kept_and_reported(device, repo)["detail"]


def test_endless_data_metadata_larger_than_declared(device, repo, archives):
    release_two(repo, archives)
    name = f"metadata/{repo.snapshot.signed.version}.snapshot.json"
    repo.tamper[name] = lambda data: data + b" " * 100_000
    assert "DownloadLengthMismatch" in assert_kept_and_reported(device, repo)["detail"]


def test_slow_retrieval_a_trickling_server_times_out(device, repo, archives):
    release_two(repo, archives)
    repo.trickle_seconds = 0.05  # 20 bytes/s against a 50 000 bytes/s floor after a 1 s grace
    started = time.monotonic()
    assert "SlowRetrieval" in assert_kept_and_reported(device, repo)["detail"]
    assert time.monotonic() - started < 15


def test_extraneous_file_outside_the_signed_metadata(device, repo, archives):
    repo.files[f"targets/{MODEL}/9/{'0' * 64}.onnx.tar"] = archives[1]  # served, never signed
    assert device.once().outcome == "unchanged" and not any("/9/" in name for name in repo.requests)
    # and a signed archive carrying a file its artifact.json does not list is refused at unpacking
    stuffed = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archives[1])) as source, tarfile.open(fileobj=stuffed, mode="w") as target:
        for member in source.getmembers():
            target.addfile(member, source.extractfile(member))
        extra = tarfile.TarInfo("payload.sh")
        extra.size = 9
        target.addfile(extra, io.BytesIO(b"rm -rf /\n"))
    release_two(repo, [archives[0], stuffed.getvalue()])
    assert "does not hold exactly the files" in assert_kept_and_reported(device, repo)["detail"]


def test_wrong_device_profile_a_valid_release_signed_for_another_profile(device, repo, archives):
    repo.add_release(MODEL, 2, archives[1], ["stm32f407"])
    repo.next_versions()
    repo.publish()
    result = device.once()
    assert result.outcome == "unchanged" and device.current_target() == f"{MODEL}/1/onnx.tar"
    assert not any(name.startswith(f"targets/{MODEL}/2/") for name in repo.requests)


def test_a_compromised_key_below_the_threshold(device, repo, archives):
    thief = repo.signers["root"][0]  # one of the two root keys the threshold needs
    forged = copy.deepcopy(repo.root)
    forged.signed.version += 1
    forged.signed.roles["targets"].keyids = [thief.public_key.keyid]
    forged.signed.add_key(thief.public_key, "targets")
    forged.signatures.clear()
    forged.sign(thief)
    repo.files[f"metadata/{forged.signed.version}.root.json"] = forged.to_bytes()
    assert "root was signed by 1/2 keys" in assert_kept_and_reported(device, repo)["detail"]


def test_key_rotation_a_device_follows_a_root_rotation(device, repo, archives):
    repo.rotate("targets")
    repo.rotate("root")
    release_two(repo, archives)  # signed with the new targets key
    result = device.once()
    assert result.outcome == "installed" and device.current_target() == f"{MODEL}/2/onnx.tar", result


def test_fast_forward_attack_and_recovery(device, repo, archives):
    real_version = repo.timestamp.signed.version
    repo.timestamp.signed.version = 1_000_000  # the stolen timestamp key signs a far-future version
    repo.sign_timestamp()
    assert device.once().outcome == "unchanged"  # validly signed: accepted, nothing to install
    repo.timestamp.signed.version = real_version + 1  # the repository resumes at its own numbering ...
    repo.sign_timestamp()
    result = device.once()
    assert result.outcome == "rejected" and "BadVersionNumber" in result.detail  # ... which the device now refuses
    repo.rotate("timestamp")  # recovery: a new timestamp key in a new root makes clients forget the bad one
    release_two(repo, archives)
    assert device.once().outcome == "installed" and device.current_target() == f"{MODEL}/2/onnx.tar"


def test_every_rejection_was_reported_with_the_current_release(device, repo, archives):
    repo.tamper["metadata/timestamp.json"] = lambda data: b"{}"
    assert_kept_and_reported(device, repo)
    statuses = [report for report in repo.reports if "outcome" in report]
    assert statuses[0]["outcome"] == "installed" and statuses[-1]["outcome"] == "rejected"
    assert json.dumps(statuses)  # plain JSON, as the server stores it
    assert Path(device.state.root / "current").is_symlink()


def test_a_download_cut_off_resumes_where_it_stopped(device, repo, archives):
    path = release_two(repo, archives)
    sha256 = repo.targets.signed.targets[path].hashes["sha256"]
    half = len(archives[1]) // 2
    (device.state.partial / f"{sha256}.part").write_bytes(archives[1][:half])  # what a killed cycle left behind
    assert device.once().outcome == "installed" and device.current_target() == path
    assert repo.ranges == [(f"targets/{MODEL}/2/{sha256}.onnx.tar", half)]
    assert not any(device.state.partial.iterdir())


def test_a_resumed_download_with_a_poisoned_beginning_is_retried_once_from_zero(device, repo, archives):
    path = release_two(repo, archives)
    sha256 = repo.targets.signed.targets[path].hashes["sha256"]
    served = f"targets/{MODEL}/2/{sha256}.onnx.tar"
    half = len(archives[1]) // 2
    (device.state.partial / f"{sha256}.part").write_bytes(b"\0" * half)  # the right length, not the archive's bytes
    reported = len(repo.reports)
    assert device.once().outcome == "installed" and device.current_target() == path
    assert repo.ranges == [(served, half)] and repo.requests.count(served) == 2  # the resume, then once more from byte 0
    assert [report["outcome"] for report in repo.reports[reported:] if "outcome" in report] == ["installed"]  # no rejection
    assert not any(device.state.partial.iterdir())


def test_arbitrary_artifact_on_a_resume_is_retried_from_zero_only_once(device, repo, archives):
    path = release_two(repo, archives)
    sha256 = repo.targets.signed.targets[path].hashes["sha256"]
    served = f"targets/{MODEL}/2/{sha256}.onnx.tar"
    (device.state.partial / f"{sha256}.part").write_bytes(archives[1][:1000])
    repo.tamper[served] = flip(len(archives[1]) // 2)  # the mirror itself serves a flipped byte
    assert "LengthOrHashMismatch" in assert_kept_and_reported(device, repo)["detail"]
    assert repo.requests.count(served) == 2 and not any(device.state.partial.iterdir())  # one retry, then nothing kept


def test_endless_data_leaves_no_bytes_for_the_next_honest_cycle_to_resume(device, repo, archives):
    """An attacker's over-long body of its own bytes is thrown away, not resumed: the next cycle,
    against an honest mirror, installs instead of reporting a rejection the server's failure_rate
    gate would count against the release."""
    path = release_two(repo, archives)
    served = next(name for name in repo.files if name.startswith(f"targets/{path.rsplit('/', 1)[0]}/"))
    repo.tamper[served] = lambda data: b"\xee" * (len(data) + (1 << 20))
    repo.throttle_seconds, repo.throttle_chunk_bytes = 0.001, 8192  # 8 KB at a time: most are written before the excess shows
    assert "DownloadLengthMismatch" in assert_kept_and_reported(device, repo)["detail"]
    assert not any(device.state.partial.iterdir())
    del repo.tamper[served]
    repo.throttle_seconds = 0.0
    assert device.once().outcome == "installed" and device.current_target() == path and repo.ranges == []


def test_the_same_build_released_under_a_new_number_is_not_reinstalled(device, repo, archives):
    path = repo.add_release(MODEL, 2, archives[0], [PROFILE])  # release 1's archive, published again
    repo.next_versions()
    repo.publish()
    first = device.once()
    assert first.outcome == "unchanged" and first.target == path and "same build" in first.detail
    assert device.current_target() == path and device.once().outcome == "unchanged"


def test_a_smoke_test_that_killed_the_agent_refuses_that_build(device, repo, archives):
    path = release_two(repo, archives)
    sha256 = repo.targets.signed.targets[path].hashes["sha256"]
    (device.state.root / "smoke-attempt.json").write_text(json.dumps({"target": path, "sha256": sha256, "attempts": 2}))
    result = device.once()  # two segfaults in its smoke test: refused
    assert result.outcome == "failed" and "died while running it twice" in result.detail
    assert device.once().outcome == "unchanged" and device.current_target() == f"{MODEL}/1/onnx.tar"


def test_one_death_in_a_smoke_test_is_given_another_try(device, repo, archives):
    path = release_two(repo, archives)
    sha256 = repo.targets.signed.targets[path].hashes["sha256"]
    (device.state.root / "smoke-attempt.json").write_text(json.dumps({"target": path, "sha256": sha256, "attempts": 1}))
    assert device.once().outcome == "installed" and not (device.state.root / "smoke-attempt.json").exists()
