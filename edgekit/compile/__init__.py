"""Compiling a bundle into an artifact: the shared parts here (registry, parity, verify, work, the
dense form), one subpackage per backend (onnx/, c/, tflite/) and one for the tree form (trees/).

``compile_bundle`` (``build``) is imported on first use, so a module that needs only a table of
this package (the toolchains, a runtime's versions) does not load the converters. Called as a
function, ``edgekit.compile(bundle, target, …)`` is ``edgekit.workflow.compile``.
"""

from edgekit_runtime.lazy_exports import export_lazily as _export_lazily

_export_lazily(__name__, {"compile_bundle": ".build", "target_names": ".build"}, calls="edgekit.workflow:compile")

__all__ = ["compile_bundle", "target_names"]
