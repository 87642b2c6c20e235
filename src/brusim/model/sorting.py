"""Sorting and searching small integer arrays inside the kernels.

numpy's own ``np.sort``, ``np.argsort`` and ``np.searchsorted`` work in compiled code too, but
each costs one to three seconds of compilation on a machine's first run; these few lines cost
a fraction of that and give the same results (a sorted array of integers is unique).
"""

from __future__ import annotations

import numpy as np

from brusim.model.jit import rule

_GAPS = (701, 301, 132, 57, 23, 10, 4, 1)  # Ciura's gap sequence


@rule
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


@rule
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


_RUN = 16  # insertion-sorted runs before merging


@rule
def stable_argsort(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind="stable")`` for a 1-d array without NaN: the positions that
    sort ``values``, ties in their original order (a bottom-up merge sort; a stable order is
    unique, so the result is numpy's)."""
    n = values.shape[0]
    src = np.arange(n)
    dst = np.empty(n, np.int64)
    for lo in range(0, n, _RUN):
        hi = min(lo + _RUN, n)
        for i in range(lo + 1, hi):
            v = src[i]
            j = i
            while j > lo and values[src[j - 1]] > values[v]:
                src[j] = src[j - 1]
                j -= 1
            src[j] = v
    width = _RUN
    while width < n:
        for lo in range(0, n, 2 * width):
            mid, hi = min(lo + width, n), min(lo + 2 * width, n)
            i, j = lo, mid
            for k in range(lo, hi):
                if j < hi and (i >= mid or values[src[j]] < values[src[i]]):
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
        src, dst = dst, src
        width *= 2
    return src
