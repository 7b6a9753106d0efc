"""edgekit's device-side runtime. Imports NumPy at most; never edgekit or a training library."""

from ._version import __version__
from .errors import IntegrityError, RuntimeFailure, UnsupportedFormat
from .integrity import describe_files, sha256_file, verify_files
from .manifest import read_descriptor, verify_directory

__all__ = [
    "IntegrityError",
    "RuntimeFailure",
    "UnsupportedFormat",
    "__version__",
    "describe_files",
    "read_descriptor",
    "sha256_file",
    "verify_directory",
    "verify_files",
]
