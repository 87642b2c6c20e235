"""Sorting and searching small integer arrays inside the kernels.

numpy's own ``np.sort``, ``np.argsort`` and ``np.searchsorted`` work in compiled code too, but
each costs one to three seconds of compilation on a machine's first run; these few lines cost
a fraction of that and give the same results (a sorted array of integers is unique).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GAPS = (701, 301, 132, 57, 23, 10, 4, 1)  # Ciura's gap sequence


@njit(cache=True, error_model="numpy")
def sorted_ints(values: np.ndarray) -> np.ndarray:
    """A sorted copy of the integer array ``values`` (``np.sort``; Shell sort, for the few
    hundred entries the kernels sort)."""
    out = values.astype(np.int64)
    n = out.shape[0]
    for gap in _GAPS:
        for i in range(gap, n):
            v = out[i]
            j = i
            while j >= gap and out[j - gap] > v:
                out[j] = out[j - gap]
                j -= gap
            out[j] = v
    return out


@njit(cache=True, error_model="numpy")
def left_position(sorted_values: np.ndarray, value: int) -> int:
    """``np.searchsorted(sorted_values, value)``: the first position whose entry is not less
    than ``value``."""
    lo, hi = 0, sorted_values.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if sorted_values[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo
