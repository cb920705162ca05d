"""STAPLE consensus: binary (Warfield 2004) and multi-label (Rohlfing 2004), vectorised.

Both functions reproduce ITK's filters step by step (SimpleITK ``STAPLE`` and ``MultiLabelSTAPLE``:
same initialisation, prior, update order and stopping rule), but run the EM on the table of
distinct vote patterns (see :mod:`._patterns`) instead of on every voxel, in float64 with exact
integer voxel counts. Differences from ITK, on purpose:

* all annotators empty gives an empty consensus with probability 0 (ITK returns NaN);
* multi-label sums are accumulated in float64 (SimpleITK's ``MultiLabelSTAPLE`` uses float32, which
  stops counting at 2**24 voxels), so results agree with SimpleITK to float32 precision on small
  images and stay correct on large ones;
* a 0/0 posterior (possible only when some estimated sensitivity and specificity are exactly 1 and
  annotators contradict each other) is replaced by the vote fraction instead of NaN.

References
----------
S. K. Warfield, K. H. Zou, W. M. Wells, "Simultaneous truth and performance level estimation
(STAPLE)", IEEE Trans Med Imaging 23(7):903-921, 2004.
T. Rohlfing, D. B. Russakoff, C. R. Maurer Jr., "Performance-based classifier combination in
atlas-based image segmentation using expectation-maximization parameter estimation",
IEEE Trans Med Imaging 23(8):983-994, 2004.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..errors import InputError
from ._patterns import Patterns, check_stack, vote_patterns

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]

#: ITK STAPLEImageFilter stops when every (p_i - p_i_prev)^2 and (q_i - q_i_prev)^2 <= this.
BINARY_MIN_SQUARED_CHANGE = 1.0e-14
#: ITK MultiLabelSTAPLEImageFilter default termination threshold on confusion-matrix updates.
MULTILABEL_UPDATE_THRESHOLD = 1.0e-5


def _noop(fraction: float, text: str) -> None:
    pass


@dataclass
class StapleResult:
    """Binary STAPLE output.

    Attributes
    ----------
    sensitivity, specificity : (n,) ndarray of float
        Estimated per-annotator performance (p_i, q_i of Warfield 2004), in annotator order.
    prior : float
        Prior foreground probability g_t (mean vote fraction times ``confidence_weight``).
    iterations : int
        ITK's ``ElapsedIterations`` (index of the last EM iteration; 0 when nothing was estimated).
    threshold : float
        Probability at or above which a voxel is in :attr:`mask`.
    """

    sensitivity: np.ndarray
    specificity: np.ndarray
    prior: float
    iterations: int
    threshold: float
    patterns: Patterns = field(repr=False)
    pattern_probability: np.ndarray = field(repr=False)

    @cached_property
    def probability(self) -> np.ndarray:
        """(Z, Y, X) float64 posterior probability that each voxel is foreground (SimpleITK's output)."""
        return self.patterns.expand(self.pattern_probability, np.float64)

    @cached_property
    def mask(self) -> np.ndarray:
        """(Z, Y, X) bool consensus: ``probability >= threshold``."""
        return self.patterns.expand(self.pattern_probability >= self.threshold, bool)


def staple(masks: Sequence[np.ndarray], *, foreground_value: float = 1, confidence_weight: float = 1.0,
           max_iterations: int = 4294967295, threshold: float = 0.5,
           min_squared_change: float = BINARY_MIN_SQUARED_CHANGE,
           progress: Progress | None = None) -> StapleResult:
    """Binary STAPLE consensus of several annotators' masks of one structure.

    Parameters
    ----------
    masks : sequence of n (Z, Y, X) ndarray
        One mask per annotator on the same grid, axis order z, y, x. Bool arrays are used as they
        are; other dtypes count a voxel as foreground when it equals ``foreground_value`` (within
        1e-10, as ITK does).
    foreground_value : float, keyword-only
        Label value that means "inside" in non-bool masks (ITK ``ForegroundValue``).
    confidence_weight : float, keyword-only
        Multiplies the estimated prior g_t (ITK ``ConfidenceWeight``); must be > 0.
    max_iterations : int, keyword-only
        Upper bound on EM iterations (ITK ``MaximumIterations``; SimpleITK's default is 2**32-1).
    threshold : float, keyword-only
        Probability cut for :attr:`StapleResult.mask` (inclusive), in (0, 1].
    min_squared_change : float, keyword-only
        Convergence: stop when every squared change of p_i and q_i is at most this (ITK's fixed
        1e-14, i.e. changes below 1e-7).
    progress : callable(fraction, text), optional

    Returns
    -------
    StapleResult
        ``probability`` (float64 (Z, Y, X)), ``mask`` (bool), ``sensitivity``/``specificity`` per
        annotator, ``prior``, ``iterations``.

    Notes
    -----
    Initialisation W = vote fraction, g_t = mean(W) * confidence_weight; each iteration computes
    p_i = sum(W D_i) / sum(W), q_i = sum((1-W)(1-D_i)) / sum(1-W), then
    W = g a / (g a + (1-g) b) with a = prod p_i^D (1-p_i)^(1-D), b = prod (1-q_i)^D q_i^(1-D);
    it stops after the first iteration (from the second on) in which no p_i or q_i moved by more
    than 1e-7 (squared change <= 1e-14), exactly ITK's rule.
    All masks empty: empty consensus, probability 0, sensitivity and specificity 1 (nothing was
    missed), iterations 0. All masks full: probability 1.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((1, 4, 4), bool); a[0, 1:3, 1:3] = True
    >>> b = a.copy(); b[0, 0, 0] = True
    >>> r = staple([a, a, b])
    >>> bool(r.mask[0, 1, 1]), bool(r.mask[0, 0, 0])
    (True, False)
    """
    progress = progress or _noop
    masks = check_stack(masks, "staple")
    if not confidence_weight > 0:
        raise InputError(f"staple: confidence_weight must be > 0; got {confidence_weight}")
    if not 0 < threshold <= 1:
        raise InputError(f"staple: threshold must be in (0, 1]; got {threshold}")
    if max_iterations < 1:
        raise InputError(f"staple: max_iterations must be >= 1; got {max_iterations}")
    if not min_squared_change >= 0:
        raise InputError(f"staple: min_squared_change must be >= 0; got {min_squared_change}")
    fg = []
    for m in masks:
        if m.dtype == bool:
            fg.append(m)
        else:
            fg.append((m > foreground_value - 1e-10) & (m < foreground_value + 1e-10))
    n = len(fg)
    progress(0.0, f"STAPLE: counting vote patterns of {n} annotators")
    pat = vote_patterns(fg, 2)
    D = pat.votes.astype(bool)  # (U, n)
    c = pat.counts.astype(np.float64)
    N = float(pat.counts.sum())
    W = D.sum(axis=1) / float(n)  # initial: vote fraction
    g = float((c * W).sum() / N) * confidence_weight
    ones = np.ones(n)
    if not D.any():  # every annotator empty
        progress(1.0, "STAPLE: all annotators empty")
        return StapleResult(ones.copy(), ones.copy(), 0.0, 0, threshold, pat, np.zeros(len(c)))
    if D.all(axis=1)[pat.counts > 0].all():  # every voxel foreground for everyone
        return StapleResult(ones.copy(), ones.copy(), g, 0, threshold, pat, np.ones(len(c)))
    last_p = np.full(n, -10.0)
    last_q = np.full(n, -10.0)
    it = 0
    while it < max_iterations:
        cw = c * W
        cw1 = c * (1.0 - W)
        p = (cw[:, None] * D).sum(axis=0) / cw.sum()
        q = (cw1[:, None] * ~D).sum(axis=0) / cw1.sum()
        alpha = np.ones(len(c))
        beta = np.ones(len(c))
        for i in range(n):  # same multiplication order as ITK
            alpha = np.where(D[:, i], alpha * p[i], alpha * (1.0 - p[i]))
            beta = np.where(D[:, i], beta * (1.0 - q[i]), beta * q[i])
        with np.errstate(invalid="ignore", divide="ignore"):
            W = g * alpha / (g * alpha + (1.0 - g) * beta)
        bad = ~np.isfinite(W)
        if bad.any():
            log.warning("STAPLE: %d vote patterns have an undefined posterior (0/0); using their vote fraction",
                        int(bad.sum()))
            W = np.where(bad, D.sum(axis=1) / float(n), W)
        converged = it != 0 and bool(np.all((p - last_p) ** 2 <= min_squared_change)
                                     and np.all((q - last_q) ** 2 <= min_squared_change))
        last_p, last_q = p, q
        progress(min(0.95, 0.05 + 0.02 * it), f"STAPLE iteration {it + 1}")
        if converged:
            break
        it += 1
    progress(1.0, f"STAPLE converged after {it + 1} iterations")
    return StapleResult(last_p, last_q, g, it, threshold, pat, W)


@dataclass
class MultiLabelStapleResult:
    """Multi-label STAPLE output.

    Attributes
    ----------
    confusion : (n, L+1, L) ndarray of float
        Per annotator k, ``confusion[k, j, c]`` = P(annotator says j | true label c); row L is
        ITK's extra "reject" row. Columns sum to 1.
    prior : (L,) ndarray
        Prior probability of each label 0..L-1.
    undecided_label : int
        Output value where the maximum posterior is not unique.
    iterations : int
        ITK's ``ElapsedNumberOfIterations``.
    """

    confusion: np.ndarray
    prior: np.ndarray
    undecided_label: int
    iterations: int
    patterns: Patterns = field(repr=False)
    pattern_weights: np.ndarray = field(repr=False)  # (U, L) unnormalised posterior
    pattern_labels: np.ndarray = field(repr=False)

    @cached_property
    def labels(self) -> np.ndarray:
        """(Z, Y, X) consensus label map (SimpleITK's output)."""
        dt = np.uint8 if self.undecided_label < 256 else np.uint16
        return self.patterns.expand(self.pattern_labels.astype(dt), dt)

    def probability(self, label: int) -> np.ndarray:
        """(Z, Y, X) float64 posterior probability of ``label``."""
        L = self.pattern_weights.shape[1]
        if not 0 <= int(label) < L:
            raise InputError(f"multilabel_staple: label {label} outside 0..{L - 1}")
        s = self.pattern_weights.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            post = np.where(s > 0, self.pattern_weights[:, int(label)] / s, 0.0)
        return self.patterns.expand(post, np.float64)


def _majority_with_ties(votes: np.ndarray, L: int, undecided: int) -> np.ndarray:
    """ITK LabelVotingImageFilter on pattern rows: the unique most-voted label, else ``undecided``."""
    tally = np.zeros((votes.shape[0], L), np.int64)
    for k in range(votes.shape[1]):
        tally[np.arange(votes.shape[0]), votes[:, k]] += 1
    best = tally.argmax(axis=1)
    top = tally.max(axis=1)
    unique = (tally == top[:, None]).sum(axis=1) == 1
    return np.where(unique, best, undecided)


def multilabel_staple(labelmaps: Sequence[np.ndarray], *, prior: Sequence[float] | None = None,
                      undecided_label: int | None = None,
                      termination_threshold: float = MULTILABEL_UPDATE_THRESHOLD,
                      max_iterations: int = 4294967295,
                      progress: Progress | None = None) -> MultiLabelStapleResult:
    """Multi-label STAPLE consensus of several annotators' label maps (values 0..L-1).

    Parameters
    ----------
    labelmaps : sequence of n (Z, Y, X) ndarray of non-negative int
        One label map per annotator, same grid, axis order z, y, x; 0 is background.
    prior : sequence of L float, optional, keyword-only
        Prior label probabilities; default: relative label frequencies over all inputs (ITK).
    undecided_label : int, optional
        Output value for ties; default L (max label + 1), as ITK.
    termination_threshold : float
        Stop when no confusion-matrix entry changes by this much or more (ITK default 1e-5).
    max_iterations : int
    progress : callable(fraction, text), optional

    Returns
    -------
    MultiLabelStapleResult
        ``labels`` (consensus label map), ``confusion`` (n, L+1, L), ``prior``, ``probability(l)``.

    Notes
    -----
    Follows ITK's ``MultiLabelSTAPLEImageFilter``: confusion matrices start from each annotator's
    agreement with a tie-aware majority vote (rows normalised), including ITK's handling of voxels
    where the vote is undecided (their count lands in entry [j+1, 0] of the (L+1) x L matrix, an
    artefact of ITK's row-major storage that we keep so results match); then E-step
    W_c ∝ prior_c prod_k theta_k[j_k, c], M-step theta_k[j, c] = sum W_c [j_k = j] / sum W_c.
    The output is the label with the unique largest W; ties get ``undecided_label``.
    """
    progress = progress or _noop
    maps = check_stack(labelmaps, "multilabel_staple")
    ints = []
    for i, m in enumerate(maps):
        if m.dtype == bool:
            m = m.view(np.uint8)
        if not np.issubdtype(m.dtype, np.integer):
            raise InputError(f"multilabel_staple: label map {i} has dtype {m.dtype}; pass integer label maps")
        if np.issubdtype(m.dtype, np.signedinteger) and m.size and m.min() < 0:
            raise InputError(f"multilabel_staple: label map {i} has negative labels; use 0..L-1")
        ints.append(m)
    n = len(ints)
    L = int(max(int(m.max()) if m.size else 0 for m in ints)) + 1
    undecided = L if undecided_label is None else int(undecided_label)
    progress(0.0, f"multi-label STAPLE: counting vote patterns of {n} annotators, {L} labels")
    pat = vote_patterns(ints, L)
    V = pat.votes  # (U, n)
    c = pat.counts.astype(np.float64)
    U = V.shape[0]
    # -- initial confusion matrices from the majority vote (ITK InitializeConfusionMatrixArrayFromVoting)
    vote = _majority_with_ties(V, L, L)  # ITK's internal voting uses L for ties
    theta = np.zeros((n, (L + 1) * L))
    for k in range(n):
        np.add.at(theta[k], V[:, k] * L + vote, c)  # index j*L + L lands in row j+1, column 0 (ITK)
    theta = theta.reshape(n, L + 1, L)
    rows = theta.sum(axis=2, keepdims=True)
    theta = np.where(rows > 0, theta / np.where(rows > 0, rows, 1.0), theta)
    # -- prior
    if prior is not None:
        pr = np.asarray(prior, np.float64).ravel()
        if pr.size < L:
            raise InputError(f"multilabel_staple: prior has {pr.size} values; need {L} (labels 0..{L - 1})")
        pr = pr[:L]
    else:
        freq = np.zeros(L)
        for k in range(n):
            np.add.at(freq, V[:, k], c)
        pr = freq / freq.sum()
    it = 0
    onehot = [V[:, k] for k in range(n)]
    while True:
        if max_iterations is not None and it >= max_iterations:
            break
        W = np.tile(pr, (U, 1))
        for k in range(n):
            W = W * theta[k][onehot[k]]
        s = W.sum(axis=1, keepdims=True)
        Wn = np.where(s != 0, W / np.where(s != 0, s, 1.0), W)
        upd = np.zeros((n, L + 1, L))
        cW = Wn * c[:, None]
        for k in range(n):
            np.add.at(upd[k], onehot[k], cW)
        col = upd.sum(axis=1, keepdims=True)
        upd = np.where(col != 0, upd / np.where(col != 0, col, 1.0), upd)
        max_update = float(np.abs(upd - theta).max()) if upd.size else 0.0
        theta = upd
        progress(min(0.95, 0.05 + 0.02 * it), f"multi-label STAPLE iteration {it + 1}")
        if max_update < termination_threshold:
            break
        it += 1
    # final E-step and decision (unique maximum, else undecided)
    W = np.tile(pr, (U, 1))
    for k in range(n):
        W = W * theta[k][onehot[k]]
    top = W.max(axis=1)
    winner = W.argmax(axis=1)
    unique = ((W == top[:, None]).sum(axis=1) == 1) & (top > 0)
    out = np.where(unique, winner, undecided)
    progress(1.0, f"multi-label STAPLE converged after {it + 1} iterations")
    return MultiLabelStapleResult(theta, pr, undecided, it, pat, W, out)
