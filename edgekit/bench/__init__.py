"""Benchmarking an artifact: natively here, and by instruction counts on emulated devices.

Called as a function, ``edgekit.bench(artifact, devices, emulate=…)`` is ``edgekit.workflow.bench``.
"""

from edgekit_runtime.lazy_exports import export_lazily as _export_lazily

_export_lazily(__name__, {}, calls="edgekit.workflow:bench")
