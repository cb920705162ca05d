"""Patient-level train/validation/test splits (seeded, optionally stratified).

Splitting by patient, not by image or slice, keeps all slices and series of one person in one
split; otherwise near-identical neighbouring slices leak between training and test data
(Roberts et al., "Common pitfalls and recommendations for using machine learning to detect and
prognosticate for COVID-19", Nat Mach Intell 3:199, 2021, pitfall "data leakage").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence

import numpy as np

from ..errors import InputError

SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")


def parse_ratios(text: str | Sequence[float]) -> tuple[float, ...]:
    """``"8:1:1"`` (or a sequence of numbers) → fractions that sum to 1.

    Examples
    --------
    >>> parse_ratios("8:1:1")
    (0.8, 0.1, 0.1)
    """
    try:
        values = [float(v) for v in (text.split(":") if isinstance(text, str) else text)]
    except ValueError:
        raise InputError(f"split {text!r}: give ratios such as 8:1:1 (train:val:test)") from None
    if not 1 <= len(values) <= len(SPLIT_NAMES) or any(v < 0 for v in values) or sum(values) <= 0:
        raise InputError(f"split {text!r}: give 1 to 3 non-negative ratios with a positive sum, such as 8:1:1")
    values += [0.0] * (len(SPLIT_NAMES) - len(values))
    total = sum(values)
    return tuple(round(v / total, 12) for v in values)


def _largest_remainder(n: int, fractions: Sequence[float]) -> list[int]:
    """Integer counts summing to ``n`` closest to ``n * fractions`` (Hamilton's method; ties → earlier split)."""
    exact = np.asarray(fractions, float) * n
    counts = np.floor(exact + 1e-9).astype(int)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: n - int(counts.sum())]:
        counts[i] += 1
    return counts.tolist()


def patient_splits(patients: Sequence[str], *, ratios: str | Sequence[float] = (8, 1, 1), seed: int = 0,
                   strata: Mapping[str, Hashable] | None = None,
                   names: Sequence[str] = SPLIT_NAMES) -> dict[str, str]:
    """Assign every patient to exactly one split.

    Parameters
    ----------
    patients : sequence of str
        Patient ids (duplicates are ignored: a patient is one unit).
    ratios : "a:b:c" or sequence of float
        Relative sizes of train, val, test (default 8:1:1).
    seed : int
        Seed of the shuffle; the same inputs and seed give the same splits.
    strata : mapping patient → hashable, optional
        Stratum of each patient (e.g. number of annotators, or the set of labels present). Each
        stratum is split in the given proportions as far as whole patients allow; the patients
        left over by rounding are pooled and fill the splits up to the overall target counts.

    Returns
    -------
    dict patient → split name
        Split sizes are the largest-remainder rounding of ``n * ratios``.

    Examples
    --------
    >>> s = patient_splits([f"P{i}" for i in range(10)], seed=1)
    >>> sorted(list(s.values()).count(n) for n in ("train", "val", "test"))
    [1, 1, 8]
    """
    fractions = parse_ratios(ratios)
    unique = list(dict.fromkeys(str(p) for p in patients))
    if not unique:
        raise InputError("no patients to split")
    if len(names) != len(fractions):
        raise InputError(f"names {list(names)} must have {len(fractions)} entries")
    rng = np.random.default_rng(seed)
    target = _largest_remainder(len(unique), fractions)
    if strata is None:
        groups = {None: unique}
    else:
        missing = [p for p in unique if p not in strata]
        if missing:
            raise InputError(f"strata lack patient(s) {missing[:5]}; give a stratum for every patient")
        groups = defaultdict(list)
        for p in unique:
            groups[strata[p]].append(p)
    out: dict[str, str] = {}
    pool: list[str] = []
    filled = [0] * len(fractions)
    for key in sorted(groups, key=repr):
        members = sorted(groups[key])
        rng.shuffle(members)
        exact = np.asarray(fractions) * len(members)
        counts = np.floor(exact + 1e-9).astype(int)
        start = 0
        for i, c in enumerate(counts):
            for p in members[start:start + c]:
                out[p] = names[i]
            filled[i] += int(c)
            start += c
        pool.extend(members[start:])
    rng.shuffle(pool)
    need = [t - f for t, f in zip(target, filled, strict=True)]
    it = iter(pool)
    for i, k in enumerate(need):
        for _ in range(k):
            out[next(it)] = names[i]
    return out
