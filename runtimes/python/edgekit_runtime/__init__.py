"""edgekit's device-side runtime. Imports NumPy at most; never edgekit or a training library."""

from ._version import __version__
from .errors import IntegrityError, InvalidInput, MissingRuntime, RuntimeFailure, UnsupportedFormat
from .integrity import describe_files, sha256_file, verify_files
from .loader import LoadedModel, Predictor, load
from .manifest import read_descriptor, verify_directory
from .smoke import SmokeTestFailed, smoke_test

__all__ = [
    "IntegrityError",
    "InvalidInput",
    "LoadedModel",
    "MissingRuntime",
    "Predictor",
    "RuntimeFailure",
    "SmokeTestFailed",
    "UnsupportedFormat",
    "__version__",
    "describe_files",
    "load",
    "read_descriptor",
    "sha256_file",
    "smoke_test",
    "verify_directory",
    "verify_files",
]
