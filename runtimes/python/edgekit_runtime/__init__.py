"""edgekit's device-side runtime. Imports NumPy at most; never edgekit or a training library.

Everything but the errors is imported on first use: a program that needs one module of the
runtime (``edgekit_runtime.errors``, as the ``edgekit`` command line does) loads neither NumPy nor
the loaders by importing the package.
"""

from ._version import __version__
from .errors import IntegrityError, InvalidInput, MissingRuntime, RuntimeFailure, UnsupportedFormat
from .lazy_exports import export_lazily as _export_lazily

_export_lazily(__name__, {
    "current_model": ".app_api", "report_unhealthy": ".app_api",
    "describe_files": ".integrity", "sha256_file": ".integrity", "verify_files": ".integrity",
    "LoadedModel": ".loader", "Predictor": ".loader", "load": ".loader",
    "read_descriptor": ".manifest", "verify_directory": ".manifest",
    "SmokeTestFailed": ".smoke", "smoke_test": ".smoke",
})

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
    "current_model",
    "describe_files",
    "load",
    "read_descriptor",
    "report_unhealthy",
    "sha256_file",
    "smoke_test",
    "verify_directory",
    "verify_files",
]
