"""Predictions from a host-native C artifact (a shared library implementing edgekit_model.h).

ctypes, not cffi: nothing to install on the device. The call path is kept short because a single
row is a few hundred nanoseconds of C work: the argument types are declared once, buffers are
passed as raw addresses, and a batch is one call that loops in C.
"""

from __future__ import annotations

import ctypes
import platform
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .errors import IntegrityError, InvalidInput
from .rows import as_rows

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

    def __init__(self, library: str | Path, model_id: str | None = None) -> None:
        try:
            self._library = ctypes.CDLL(str(Path(library).resolve()))
        except OSError as exc:
            raise InvalidInput(f"cannot load C artifact library {library}: {exc}", "compile for this machine's triple") from exc
        version = ctypes.c_uint.in_dll(self._library, "edgekit_api_version").value
        if version != API_VERSION:
            raise InvalidInput(f"{library} implements C API v{version}; this runtime reads v{API_VERSION}", "upgrade edgekit-runtime")
        self.features = ctypes.c_uint.in_dll(self._library, "edgekit_num_features").value
        self.outputs = ctypes.c_uint.in_dll(self._library, "edgekit_num_outputs").value
        self.model_id = ctypes.string_at(ctypes.addressof(ctypes.c_char.in_dll(self._library, "edgekit_model_id"))).decode()
        if model_id is not None and self.model_id != model_id:
            raise IntegrityError(f"{library} was built from bundle {self.model_id[:12]}, not {model_id[:12]}", "recompile the artifact")
        self._batch = self._library.edgekit_predict_batch
        self._batch.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
        self._batch.restype = None
        self._one = self._library.edgekit_predict
        self._one.argtypes = None  # called with ready-made c_void_p objects: no conversion per call
        self._one.restype = None
        self._probabilities = self.outputs > 1
        self._buffers = threading.local()

    def _row_buffers(self) -> tuple[np.ndarray, np.ndarray, ctypes.c_void_p, ctypes.c_void_p]:
        """This thread's input and output buffers for one row, and their addresses (made once)."""
        row = np.empty((1, self.features), dtype=np.float32)
        out = np.empty((1, self.outputs) if self._probabilities else (1,), dtype=np.float32)
        addresses = (ctypes.c_void_p(row.ctypes.data), ctypes.c_void_p(out.ctypes.data))
        self._buffers.row = buffers = (row, out, *addresses)
        return buffers

    def predict(self, rows: Any) -> np.ndarray:
        if type(rows) is np.ndarray and rows.size == self.features and rows.ndim <= 2 and (rows.dtype is _FLOAT32 or rows.dtype is _FLOAT64):
            # One row: copied into a buffer this thread owns; the result is the only allocation.
            try:
                row, out, row_address, out_address = self._buffers.row
            except AttributeError:
                row, out, row_address, out_address = self._row_buffers()
            try:
                row[...] = rows  # (features,) and (1, features) fit; (features, 1) does not
            except ValueError:
                return self._predict_rows(rows)
            self._one(row_address, out_address)
            return out.copy()
        return self._predict_rows(rows)

    def _predict_rows(self, rows: Any) -> np.ndarray:
        array = np.asarray(rows)
        if array.dtype != np.float32 or not array.flags.c_contiguous or array.ndim != 2 or array.shape[1] != self.features:
            array = as_rows(array, self.features)
        count = array.shape[0]
        out = np.empty((count, self.outputs), dtype=np.float32)
        if count:
            self._batch(array.__array_interface__["data"][0], count, out.__array_interface__["data"][0])
        return out if self._probabilities else out.reshape(-1)
