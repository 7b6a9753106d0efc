"""A bundle that was altered in any way is refused with the bad file named; nothing is overwritten."""

import json
import shutil

import pytest

from edgekit import BadInput, CheckFailed, ModelBundle, train_bundle
from edgekit.storage import content_hash


def _flip_byte(path, offset=None):
    data = bytearray(path.read_bytes())
    index = len(data) // 2 if offset is None else offset
    data[index] ^= 0x01
    path.write_bytes(bytes(data))


def _rewrite_descriptor(bundle, change):
    descriptor = json.loads((bundle / "bundle.json").read_text())
    change(descriptor)
    descriptor["content_hash"] = content_hash(descriptor)
    (bundle / "bundle.json").write_text(json.dumps(descriptor))


@pytest.mark.parametrize("name", ["model.ubj", "schema.json", "reference.npz", "baseline.json"])
def test_one_flipped_byte_in_any_file_is_named(bundle_copy, name, cli):
    _flip_byte(bundle_copy / name)
    with pytest.raises(BadInput, match=f"{name}: sha256 does not match"):
        ModelBundle.load(bundle_copy)
    for command in (["bundle", "verify"], ["bundle", "show"]):
        result = cli(*command, bundle_copy)
        assert result.exit_code == 2 and name in result.stderr and "Traceback" not in result.output


def test_truncated_model_file_is_named(bundle_copy):
    model = bundle_copy / "model.ubj"
    model.write_bytes(model.read_bytes()[:100])
    with pytest.raises(BadInput, match="model.ubj: size is 100 bytes"):
        ModelBundle.load(bundle_copy)


def test_missing_file_is_named(bundle_copy):
    (bundle_copy / "schema.json").unlink()
    with pytest.raises(BadInput, match="schema.json: file is missing"):
        ModelBundle.load(bundle_copy)


def test_edited_metrics_are_caught_by_the_content_hash(bundle_copy):
    descriptor = json.loads((bundle_copy / "bundle.json").read_text())
    descriptor["metrics"]["test"]["roc_auc"] = 1.0
    (bundle_copy / "bundle.json").write_text(json.dumps(descriptor))
    with pytest.raises(BadInput, match="bundle.json: content does not match its content_hash"):
        ModelBundle.load(bundle_copy)


def test_unknown_format_version_is_refused(bundle_copy):
    _rewrite_descriptor(bundle_copy, lambda d: d.update(format_version=99))
    with pytest.raises(BadInput, match="format_version 99 is not one this runtime reads"):
        ModelBundle.load(bundle_copy)


def test_garbage_descriptor_is_refused(bundle_copy):
    (bundle_copy / "bundle.json").write_text("{not json")
    with pytest.raises(BadInput, match="bundle.json: cannot be read as JSON"):
        ModelBundle.load(bundle_copy)


def test_manifest_escaping_the_directory_is_refused(bundle_copy):
    _rewrite_descriptor(bundle_copy, lambda d: d["files"].update({"../outside": {"sha256": "0" * 64, "size": 1}}))
    with pytest.raises(BadInput, match="outside the directory"):
        ModelBundle.load(bundle_copy)


def test_not_a_bundle(tmp_path, cli):
    result = cli("bundle", "verify", tmp_path)
    assert result.exit_code == 2 and "not an edgekit bundle" in result.stderr


def test_model_that_no_longer_reproduces_its_reference_fails_the_check(bundle_copy, cli):
    import numpy as np

    with np.load(bundle_copy / "reference.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["outputs"] = arrays["outputs"] + 0.01
    np.savez_compressed(bundle_copy / "reference.npz", **arrays)
    from edgekit_runtime import describe_files

    _rewrite_descriptor(bundle_copy, lambda d: d["files"].update(describe_files(bundle_copy, ["reference.npz"])))
    with pytest.raises(CheckFailed, match="no longer reproduces its reference outputs"):
        ModelBundle.load(bundle_copy).check_reference()
    assert cli("bundle", "verify", bundle_copy).exit_code == 1


class Gadget:  # a type no bundle of ours contains
    pass


def test_skops_file_with_an_untrusted_type_is_refused_even_with_good_hashes(tmp_path):
    import skops.io
    from edgekit_runtime import describe_files
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    bundle = train_bundle("bundled:wine", tmp_path / "b", family="logistic")
    model = make_pipeline(FunctionTransformer(Gadget), bundle.model.steps[-1][1])
    skops.io.dump(model, bundle.path / "model.skops")
    _rewrite_descriptor(bundle.path, lambda d: d["files"].update(describe_files(bundle.path, ["model.skops"])))
    with pytest.raises(BadInput, match="holds types edgekit does not trust"):
        ModelBundle.load(bundle.path).model


def test_retraining_into_an_existing_bundle_replaces_it_whole(bundle_copy, tmp_path):
    first = ModelBundle.load(bundle_copy).info
    second = train_bundle("bundled:wine", bundle_copy, family="logistic")
    assert second.info.family == "logistic" and second.info.content_hash != first.content_hash
    assert sorted(p.name for p in bundle_copy.iterdir()) == sorted(["bundle.json", *second.info.files])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_failed_training_leaves_no_debris_and_records_no_run(tmp_path, cli):
    result = cli("train", "bundled:wine", "--task", "regression", "--model", "logistic", "--out", tmp_path / "b")
    assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == [tmp_path / "edgekit-home"] or not (tmp_path / "b").exists()
    assert json.loads(cli("runs", "--json").stdout) == []


def test_empty_existing_directory_is_accepted(tmp_path):
    (tmp_path / "empty").mkdir()
    assert train_bundle("bundled:wine", tmp_path / "empty", family="logistic").path == tmp_path / "empty"
    shutil.rmtree(tmp_path / "empty")
