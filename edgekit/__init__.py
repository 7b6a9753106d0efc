"""edgekit: train tabular models centrally, compile them for edge devices, ship them, keep them healthy.

The public API is what ``__all__`` lists; modules not named here are implementation details. Names
are imported on first use (``edgekit_runtime.lazy_exports``): ``import edgekit`` loads no machine
learning library, so the command line starts in a blink.
"""

from edgekit_runtime.lazy_exports import export_lazily as _export_lazily

# edgekit.compile and edgekit.bench are packages that are also the API's functions (their calls go
# to edgekit.workflow); importing them loads nothing heavy.
from . import bench, compile
from ._version import __version__
from .errors import BadInput, CheckFailed, EdgekitError, MissingTool

_export_lazily(__name__, {
    "Artifact": ".artifact", "ArtifactInfo": ".artifact",
    "BundleInfo": ".bundle", "ModelBundle": ".bundle", "write_bundle": ".bundle",
    "compile_bundle": ".compile.build", "target_names": ".compile.build",
    "Dataset": ".data.dataset", "prepare_dataset": ".data.dataset",
    "FeatureSpec": ".data.schema", "Schema": ".data.schema",
    "Table": ".data.sources", "load_table": ".data.sources",
    "DeviceProfile": ".devices.profiles", "load_profile": ".devices.profiles", "profile_ids": ".devices.profiles",
    "RunRegistry": ".registry",
    "Family": ".train.families", "family_names": ".train.families", "get_family": ".train.families",
    "register_family": ".train.families",
    "TrainedModel": ".train.trainer", "train_model": ".train.trainer",
    "train_bundle": ".training", "import_model": ".importing",
    "CheckReport": ".workflow", "check": ".workflow",
})

__all__ = [
    "Artifact",
    "ArtifactInfo",
    "BadInput",
    "BundleInfo",
    "CheckFailed",
    "CheckReport",
    "Dataset",
    "DeviceProfile",
    "EdgekitError",
    "Family",
    "FeatureSpec",
    "MissingTool",
    "ModelBundle",
    "RunRegistry",
    "Schema",
    "Table",
    "TrainedModel",
    "__version__",
    "bench",
    "check",
    "compile",
    "compile_bundle",
    "family_names",
    "get_family",
    "import_model",
    "load_profile",
    "load_table",
    "prepare_dataset",
    "profile_ids",
    "register_family",
    "target_names",
    "train_bundle",
    "train_model",
    "write_bundle",
]
