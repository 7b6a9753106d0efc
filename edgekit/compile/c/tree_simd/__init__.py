"""SIMD batch kernels for the table layout's tree walk (table.py), one module per instruction set:
x86.py (AVX-512 and AVX2, picked per call with __builtin_cpu_supports) and neon.py (aarch64 NEON, with
its cost rule ``neon_gain``). Every kernel adds leaves in the scalar walk's tree order, so a row's
output is bit-identical to the single-row call's.
"""

from .neon import NEON_TRIPLES, NeonGain, neon_arrays, neon_gain, neon_kernel, neon_leaf_table
from .x86 import PAD, TOP_LEVELS, simd_kernels

__all__ = ["NEON_TRIPLES", "PAD", "TOP_LEVELS", "NeonGain", "neon_arrays", "neon_gain", "neon_kernel", "neon_leaf_table", "simd_kernels"]
