import types

import edgekit_runtime

import edgekit


def _public_names(module: types.ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        # edgekit.compile and edgekit.bench are packages that are also functions: public
        if not name.startswith("_") and (not isinstance(value, types.ModuleType) or callable(value))
    } | ({"__version__"} if hasattr(module, "__version__") else set())


def test_edgekit_all_is_sorted_and_complete():
    assert edgekit.__all__ == sorted(edgekit.__all__)
    assert set(edgekit.__all__) == _public_names(edgekit)


def test_runtime_all_is_sorted_and_complete():
    assert edgekit_runtime.__all__ == sorted(edgekit_runtime.__all__)
    assert set(edgekit_runtime.__all__) == _public_names(edgekit_runtime)
