"""Public names of a package that are imported on first use (PEP 562), so importing the package
(and every command line that does) costs nothing until a name is needed.

Asking for the whole namespace (``vars(package)``, ``package.__dict__``) imports every name first:
whoever lists a package's contents sees all of it, exactly as if it had been imported eagerly.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Mapping

_NAMESPACE = types.ModuleType.__dict__["__dict__"]  # the module's own dict, behind the property below


class _LazyPackage(types.ModuleType):
    @property  # type: ignore[override]
    def __dict__(self) -> dict[str, object]:
        namespace = _NAMESPACE.__get__(self)
        for name in namespace["_LAZY_EXPORTS"]:
            getattr(self, name)
        return namespace


class _CallableLazyPackage(_LazyPackage):
    """A package that is also a function: ``edgekit.compile(...)`` while ``edgekit.compile.build``
    stays importable (a function of the same name as a subpackage would be overwritten by it)."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        module, _, name = self._CALLS.partition(":")  # type: ignore[attr-defined]
        return getattr(importlib.import_module(module), name)(*args, **kwargs)


def export_lazily(package: str, exports: Mapping[str, str], *, calls: str | None = None) -> None:
    """Make each ``name -> ".module"`` of ``exports`` an attribute of ``package`` imported on first use.

    ``calls="package.module:function"`` makes the package itself callable: it calls that function.
    """
    module = sys.modules[package]

    def __getattr__(name: str) -> object:
        source = exports.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source, package), name)
        setattr(module, name, value)  # later lookups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted({*_NAMESPACE.__get__(module), *exports})

    module._LAZY_EXPORTS = tuple(exports)  # type: ignore[attr-defined]
    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    module.__dir__ = __dir__  # type: ignore[method-assign]
    module.__class__ = _LazyPackage
    if calls is not None:
        module._CALLS = calls  # type: ignore[attr-defined]
        module.__class__ = _CallableLazyPackage
