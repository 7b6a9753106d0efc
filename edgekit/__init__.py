"""edgekit: train tabular models centrally, compile them for edge devices, ship them, keep them healthy.

The public API is what ``__all__`` lists; modules not named here are implementation details.
"""

from ._version import __version__
from .artifact import Artifact, ArtifactInfo
from .bundle import BundleInfo, ModelBundle, write_bundle
from .compile import compile_bundle, target_names
from .data.dataset import Dataset, prepare_dataset
from .data.schema import FeatureSpec, Schema
from .data.sources import Table, load_table
from .devices import DeviceProfile, load_profile, profile_ids
from .errors import BadInput, CheckFailed, EdgekitError, MissingTool
from .registry import RunRegistry
from .train.families import Family, family_names, get_family, register_family
from .train.trainer import TrainedModel, train_model
from .training import train_bundle

__all__ = [
    "Artifact",
    "ArtifactInfo",
    "BadInput",
    "BundleInfo",
    "CheckFailed",
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
    "compile_bundle",
    "family_names",
    "get_family",
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
