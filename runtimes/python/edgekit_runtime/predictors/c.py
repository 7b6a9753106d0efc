"""Predictions from a host-native C artifact (a shared library implementing edgekit_model.h).

ctypes, not cffi: nothing to install on the device. The call path is kept short because a single
row is a few hundred nanoseconds of C work: the argument types are declared once, the row goes in
as a bytes copy (ctypes passes a bytes object's buffer without converting it, and ``tobytes`` is
the cheapest way numpy has to hand over an address), and a batch is one call that loops in C.
With ``threads`` > 1 a batch goes to ``edgekit_predict_batch_threads``, which splits it over POSIX
threads in C (the GIL is released for the call); a library built before it has only the one-thread
entry point and predicts on one thread (``threads`` then says 1).
"""

from __future__ import annotations

import ctypes
import platform
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import IntegrityError, InvalidInput
from .rows import as_rows

if TYPE_CHECKING:
    from ..inputs.monitor import InputMonitor
    from .c_monitor import CMonitor

API_VERSION = 1
_FLOAT32, _FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)
_LINUX_TRIPLES = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu", "armv7l": "arm-linux-gnueabihf"}


def host_triple() -> str:
    """The toolchain triple of this machine, as edgekit names them (e.g. x86_64-linux-gnu)."""
    machine = platform.machine()
    if sys.platform.startswith("linux"):
        return _LINUX_TRIPLES.get(machine, f"{machine}-linux-gnu")
    return f"{machine}-{sys.platform}"


class CPredictor:
    """One loaded library. ``predict`` returns probabilities [n, classes] or values [n]."""

    def __init__(self, library: str | Path, model_id: str | None = None, threads: int = 1) -> None:
        try:
            self.library = ctypes.CDLL(str(Path(library).resolve()))
        except OSError as exc:
            raise InvalidInput(f"cannot load C artifact library {library}: {exc}", "compile for this machine's triple") from exc
        version = ctypes.c_uint.in_dll(self.library, "edgekit_api_version").value
        if version != API_VERSION:
            raise InvalidInput(f"{library} implements C API v{version}; this runtime reads v{API_VERSION}", "upgrade edgekit-runtime")
        self.features = ctypes.c_uint.in_dll(self.library, "edgekit_num_features").value
        self.outputs = ctypes.c_uint.in_dll(self.library, "edgekit_num_outputs").value
        self.model_id = ctypes.string_at(ctypes.addressof(ctypes.c_char.in_dll(self.library, "edgekit_model_id"))).decode()
        if model_id is not None and self.model_id != model_id:
            raise IntegrityError(f"{library} was built from bundle {self.model_id[:12]}, not {model_id[:12]}", "recompile the artifact")
        self._batch = self.library.edgekit_predict_batch
        self._batch.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
        self._batch.restype = None
        self.threads = threads if hasattr(self.library, "edgekit_predict_batch_threads") else 1
        if self.threads > 1:
            threaded = self.library.edgekit_predict_batch_threads
            threaded.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_uint)
            threaded.restype = ctypes.c_uint
            self._batch = lambda rows, count, out: threaded(rows, count, out, self.threads)
        # One row is a few hundred nanoseconds of C: releasing and retaking the GIL around it (CDLL)
        # costs more than other threads could gain, so the single-row entry point keeps it (PyDLL).
        self._one = ctypes.PyDLL(self.library._name).edgekit_predict
        self._one.argtypes = None  # called with ready-made arguments: no conversion per call
        self._one.restype = None
        self._probabilities = self.outputs > 1
        self.predict = self._single_row_fast_path()

    def monitored(self, monitor: InputMonitor) -> CMonitor | None:
        """The input monitor counted in C by this library (None: built before it had one)."""
        from .c_monitor import CMonitor

        return CMonitor.attach(self, monitor)

    def _single_row_fast_path(self) -> Callable[[Any], np.ndarray]:
        """``predict`` as a closure: one float row skips every attribute lookup on the way to C;
        anything else goes to the batch path. The output buffer is per thread, made on first use."""
        one, batch, buffers, ndarray = self._one, self._predict_rows, threading.local(), np.ndarray
        row_shapes = {(self.features,), (1, self.features)}
        out_shape = (1, self.outputs) if self.outputs > 1 else (1,)

        def predict(rows: Any) -> np.ndarray:
            if type(rows) is not ndarray or rows.shape not in row_shapes:
                return batch(rows)
            if rows.dtype is not _FLOAT32:
                if rows.dtype is not _FLOAT64:
                    return batch(rows)
                rows = rows.astype(_FLOAT32)
            try:
                out, address = buffers.out
            except AttributeError:
                out = np.empty(out_shape, dtype=np.float32)
                address = ctypes.c_void_p(out.ctypes.data)
                buffers.out = out, address
            one(rows.tobytes(), address)
            return out.copy()  # the result is the only allocation besides the row's bytes

        return predict

    def _predict_rows(self, rows: Any) -> np.ndarray:
        """Any number of rows, one C call."""
        array = np.asarray(rows)
        if array.dtype != np.float32 or not array.flags.c_contiguous or array.ndim != 2 or array.shape[1] != self.features:
            array = as_rows(array, self.features)
        count = array.shape[0]
        out = np.empty((count, self.outputs), dtype=np.float32)
        if count:
            self._batch(array.__array_interface__["data"][0], count, out.__array_interface__["data"][0])
        return out if self._probabilities else out.reshape(-1)
