"""Voting consensus: majority, k-of-n and performance-weighted votes (binary), label majority (maps)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ._patterns import check_stack, vote_patterns


def _as_bool(masks: Sequence[np.ndarray], what: str) -> list[np.ndarray]:
    return [m if m.dtype == bool else m != 0 for m in check_stack(masks, what)]


def vote_count(masks: Sequence[np.ndarray]) -> np.ndarray:
    """(Z, Y, X) uint8/uint16 number of annotators whose mask contains each voxel."""
    masks = _as_bool(masks, "vote_count")
    dt = np.uint8 if len(masks) < 256 else np.uint16
    out = np.zeros(masks[0].shape, dt)
    for m in masks:
        out += m
    return out


def k_of_n(masks: Sequence[np.ndarray], *, k: int) -> np.ndarray:
    """Voxels marked by at least ``k`` of the ``n`` annotators.

    Parameters
    ----------
    masks : sequence of n (Z, Y, X) bool ndarray
        One mask per annotator, same grid (non-bool arrays: non-zero is inside).
    k : int, keyword-only
        1 <= k <= n. k=1 is the union, k=n the intersection.

    Returns
    -------
    (Z, Y, X) ndarray of bool

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[[1, 1, 0]]], bool); b = np.array([[[1, 0, 0]]], bool)
    >>> k_of_n([a, b], k=2).astype(int).tolist()
    [[[1, 0, 0]]]
    """
    masks = _as_bool(masks, "k_of_n")
    n = len(masks)
    if not 1 <= int(k) <= n:
        raise InputError(f"k_of_n: k must be between 1 and the number of annotators ({n}); got k={k}")
    return vote_count(masks) >= int(k)


def majority_vote(masks: Sequence[np.ndarray], *, ties: bool = False) -> np.ndarray:
    """Strict majority (more than half of the annotators); ``ties=True`` also keeps exact halves.

    Returns a (Z, Y, X) bool array. With an even number of annotators a voxel marked by exactly
    n/2 of them is outside unless ``ties`` is True.
    """
    masks = _as_bool(masks, "majority_vote")
    n = len(masks)
    votes = vote_count(masks).astype(np.int32) * 2
    return votes >= n if ties else votes > n


def performance_weights(sensitivity: Sequence[float], specificity: Sequence[float]) -> np.ndarray:
    """Per-annotator weights from estimated performance: Youden's J = sensitivity + specificity - 1.

    Clipped to >= 0 so an annotator worse than chance gets no say (Youden, Cancer 3:32-35, 1950).
    """
    p = np.asarray(sensitivity, float)
    q = np.asarray(specificity, float)
    if p.shape != q.shape:
        raise InputError(f"performance_weights: {p.size} sensitivities but {q.size} specificities")
    return np.clip(p + q - 1.0, 0.0, None)


def weighted_vote(masks: Sequence[np.ndarray], *, weights: Sequence[float], threshold: float = 0.5) -> np.ndarray:
    """Voxels whose weighted vote fraction sum(w_i D_i) / sum(w_i) is >= ``threshold``.

    Parameters
    ----------
    masks : sequence of n (Z, Y, X) bool ndarray
    weights : sequence of n float >= 0, keyword-only
        E.g. :func:`performance_weights` of a STAPLE result.
    threshold : float in (0, 1]

    Returns
    -------
    (Z, Y, X) ndarray of bool
    """
    masks = _as_bool(masks, "weighted_vote")
    w = np.asarray(weights, float).ravel()
    if w.size != len(masks):
        raise InputError(f"weighted_vote: {w.size} weights for {len(masks)} annotators")
    if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise InputError(f"weighted_vote: weights must be finite, >= 0 and not all 0; got {w.tolist()}")
    if not 0 < threshold <= 1:
        raise InputError(f"weighted_vote: threshold must be in (0, 1]; got {threshold}")
    pat = vote_patterns(masks, 2)
    frac = (pat.votes * w).sum(axis=1) / w.sum()
    return pat.expand(frac >= threshold - 1e-12, bool)


def label_majority(labelmaps: Sequence[np.ndarray], *, undecided_label: int | None = None) -> np.ndarray:
    """Per-voxel most frequent label of several label maps (ITK ``LabelVotingImageFilter`` rule).

    Ties get ``undecided_label`` (default: max label + 1, as ITK).

    Returns
    -------
    (Z, Y, X) ndarray of uint8 or uint16
    """
    maps = check_stack(labelmaps, "label_majority")
    L = int(max(int(m.max()) for m in maps)) + 1
    und = L if undecided_label is None else int(undecided_label)
    pat = vote_patterns([m.view(np.uint8) if m.dtype == bool else m for m in maps], L)
    tally = np.zeros((pat.votes.shape[0], L), np.int64)
    for k in range(pat.votes.shape[1]):
        tally[np.arange(tally.shape[0]), pat.votes[:, k]] += 1
    top = tally.max(axis=1)
    unique = (tally == top[:, None]).sum(axis=1) == 1
    out = np.where(unique, tally.argmax(axis=1), und)
    dt = np.uint8 if max(L, und) < 256 else np.uint16
    return pat.expand(out.astype(dt), dt)
