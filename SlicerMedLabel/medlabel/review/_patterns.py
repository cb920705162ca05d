"""Vote patterns: the shared trick that makes STAPLE and voting fast.

Every voxel's decisions by ``n`` annotators form one *pattern* (an integer code). STAPLE's E and M
steps depend on a voxel only through its pattern, so the EM runs on the table of distinct patterns
weighted by how many voxels carry each one. Codes are computed only inside the bounding box of the
voxels where any annotator labelled something; everything outside has the all-background pattern 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

_BINCOUNT_MAX = 1 << 20  # use np.bincount when the code space is at most this big


def check_stack(arrays: Sequence[np.ndarray], what: str) -> list[np.ndarray]:
    """Validate a list of same-shape 3-D arrays (2-D ones get a z axis of 1)."""
    if arrays is None or len(arrays) == 0:
        raise InputError(f"{what}: no annotations given; pass at least one (Z, Y, X) array")
    out = []
    for i, a in enumerate(arrays):
        a = np.asarray(a)
        if a.ndim == 2:
            a = a[np.newaxis]
        if a.ndim != 3:
            raise InputError(f"{what}: annotation {i} must be 2-D or 3-D (z, y, x); got shape {a.shape}")
        if out and a.shape != out[0].shape:
            raise InputError(
                f"{what}: annotation {i} has shape {a.shape} but annotation 0 has {out[0].shape}; "
                "resample all annotations onto one grid first (medlabel.review.inputs.align_labelsets)")
        out.append(a)
    return out


def bbox_of_any(arrays: Sequence[np.ndarray]) -> tuple[slice, slice, slice] | None:
    """Bounding box (slices z, y, x) of voxels that are non-zero in any array; None when all are zero."""
    union = np.zeros(arrays[0].shape, bool)
    for a in arrays:
        np.logical_or(union, a if a.dtype == bool else a != 0, out=union)
    zs = np.flatnonzero(union.any(axis=(1, 2)))
    if zs.size == 0:
        return None
    sub = union[zs[0]:zs[-1] + 1]
    ys = np.flatnonzero(sub.any(axis=(0, 2)))
    xs = np.flatnonzero(sub.any(axis=(0, 1)))
    return (slice(int(zs[0]), int(zs[-1]) + 1), slice(int(ys[0]), int(ys[-1]) + 1),
            slice(int(xs[0]), int(xs[-1]) + 1))


def _code_dtype(space: int):
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        if space - 1 <= np.iinfo(dt).max:
            return dt
    raise InputError(f"too many annotators/labels: {space} vote patterns do not fit in 64 bits")


@dataclass
class Patterns:
    """Distinct vote patterns of a stack of annotations.

    Attributes
    ----------
    votes : (U, n) ndarray of int
        The label each of the ``n`` annotators gave in pattern ``u``.
    counts : (U,) ndarray of int64
        Number of voxels that carry pattern ``u`` (all patterns with count > 0, and pattern 0).
    shape : tuple
        The full (Z, Y, X) grid.
    bbox : tuple of slices or None
        Where codes were computed; outside it every voxel has the all-zero pattern (row 0 of ``votes``).
    index : ndarray or None
        Pattern row of every voxel in ``bbox`` (same shape as the bbox).
    """

    votes: np.ndarray
    counts: np.ndarray
    shape: tuple[int, int, int]
    bbox: tuple[slice, slice, slice] | None
    index: np.ndarray | None

    def expand(self, table: np.ndarray, dtype=None) -> np.ndarray:
        """Full (Z, Y, X) array whose voxel value is ``table[pattern row]``."""
        table = np.asarray(table)
        dtype = dtype or table.dtype
        if table[0] == 0:
            out = np.zeros(self.shape, dtype)
        else:
            out = np.full(self.shape, table[0], dtype)
        if self.bbox is not None:
            out[self.bbox] = table[self.index]
        return out


def vote_patterns(arrays: Sequence[np.ndarray], n_values: int, *, chunk_voxels: int = 1 << 22) -> Patterns:
    """Count the distinct vote patterns of ``arrays`` whose values lie in ``0..n_values-1``.

    Parameters
    ----------
    arrays : sequence of n (Z, Y, X) integer or bool arrays
        One annotation per annotator, same shape.
    n_values : int
        Number of possible values per annotator (2 for binary masks, L for label maps 0..L-1).
    """
    n = len(arrays)
    shape = tuple(arrays[0].shape)
    total = int(np.prod(shape, dtype=np.int64))
    space = n_values ** n
    bbox = bbox_of_any(arrays)
    if bbox is None:
        return Patterns(np.zeros((1, n), np.int64), np.array([total], np.int64), shape, None, None)
    dt = _code_dtype(space)
    sub_shape = tuple(s.stop - s.start for s in bbox)
    code = np.zeros(sub_shape, dt)
    for k, a in enumerate(arrays):
        part = a[bbox]
        if part.dtype == bool:
            part = part.view(np.uint8)
        weight = dt(n_values ** k)
        if n_values == 2 and dt == np.uint8:
            code |= part << np.uint8(k)
        else:
            code += part.astype(dt, copy=False) * weight
    inside = code.size
    flat = code.reshape(-1)
    if space <= _BINCOUNT_MAX:
        counts_all = np.zeros(space, np.int64)
        for start in range(0, inside, chunk_voxels):
            counts_all += np.bincount(flat[start:start + chunk_voxels], minlength=space)
        counts_all[0] += total - inside
        present = np.flatnonzero(counts_all)
        if present[0] != 0:
            present = np.r_[0, present]
        lookup = np.zeros(space, np.int64)
        lookup[present] = np.arange(present.size)
        index = lookup[code] if present.size > 255 else lookup.astype(np.uint8)[code]
        codes_present = present.astype(np.uint64)
        counts = counts_all[present]
    else:
        uniq, inv, cnt = np.unique(flat, return_inverse=True, return_counts=True)
        if uniq[0] != 0:
            uniq = np.r_[np.array([0], uniq.dtype), uniq]
            cnt = np.r_[0, cnt]
            inv = inv + 1
        cnt = cnt.astype(np.int64)
        cnt[0] += total - inside
        index = inv.reshape(sub_shape)
        codes_present = uniq.astype(np.uint64)
        counts = cnt
    votes = np.empty((codes_present.size, n), np.int64)
    rest = codes_present.copy()
    for k in range(n):
        votes[:, k] = (rest % np.uint64(n_values)).astype(np.int64)
        rest //= np.uint64(n_values)
    return Patterns(votes, counts, shape, bbox, index)
