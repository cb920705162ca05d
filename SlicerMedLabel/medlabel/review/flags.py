"""Review flags: findings a reviewer should look at, one row each, with the number behind them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError

FLAG_COLUMNS = ["flag", "structure", "annotator", "other", "value", "threshold", "message"]

LOW_AGREEMENT = "low_agreement"
ZERO_OVERLAP = "zero_overlap"
MISSING_ANNOTATOR = "missing_annotator"
EMPTY_SEGMENT = "empty_segment"
OUTLIER_ANNOTATOR = "outlier_annotator"


def review_flags(pairwise: pd.DataFrame, per_annotator: pd.DataFrame, *, annotators: Sequence[str],
                 structures: Sequence[str] | None = None, min_dice: float = 0.5,
                 outlier_margin: float = 0.2, expected: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Flags from agreement tables (see :func:`medlabel.review.agreement.agreement_tables`).

    Parameters
    ----------
    pairwise, per_annotator : DataFrame
        The two agreement tables.
    annotators : sequence of str, keyword-only
        Everyone who was expected to annotate.
    structures : sequence of str, optional
        Structures expected from everyone (default: all structures seen in ``per_annotator``).
    min_dice : float
        A pair below this Dice is flagged ``low_agreement`` (default 0.5, the issue's IAA threshold).
    outlier_margin : float
        An annotator whose mean pairwise Dice is this much below the median of the others' means is
        flagged ``outlier_annotator`` (needs >= 3 annotators).
    expected : mapping structure -> annotators, optional
        Overrides who is expected per structure.

    Returns
    -------
    DataFrame with columns flag, structure, annotator, other, value, threshold, message.
        ``low_agreement`` (pair Dice < min_dice), ``zero_overlap`` (two non-empty masks that do not
        touch), ``missing_annotator`` (an expected annotator has no such segment), ``empty_segment``
        (segment present but empty), ``outlier_annotator``.
    """
    if not 0 <= min_dice <= 1:
        raise InputError(f"min_dice must be in 0..1; got {min_dice}")
    rows: list[dict] = []
    seen = list(dict.fromkeys(per_annotator["structure"])) if len(per_annotator) else []
    structures = list(structures) if structures is not None else seen
    for s in structures:
        pa = per_annotator[per_annotator["structure"] == s] if len(per_annotator) else per_annotator
        have = set(pa["annotator"]) if len(pa) else set()
        for a in (expected or {}).get(s, annotators):
            if a not in have:
                rows.append(dict(flag=MISSING_ANNOTATOR, structure=s, annotator=a, other="", value=np.nan,
                                 threshold=np.nan, message=f"{a} has no segment '{s}'"))
        for _, r in pa.iterrows():
            if r["voxels"] == 0:
                rows.append(dict(flag=EMPTY_SEGMENT, structure=s, annotator=r["annotator"], other="", value=0,
                                 threshold=np.nan, message=f"{r['annotator']}'s segment '{s}' is empty"))
        pp = pairwise[pairwise["structure"] == s] if len(pairwise) else pairwise
        for _, r in pp.iterrows():
            if r["voxels_a"] == 0 or r["voxels_b"] == 0:
                continue  # reported as empty_segment
            if r["dice"] == 0:
                rows.append(dict(flag=ZERO_OVERLAP, structure=s, annotator=r["annotator_a"], other=r["annotator_b"],
                                 value=0.0, threshold=0.0,
                                 message=f"'{s}': {r['annotator_a']} and {r['annotator_b']} do not overlap at all"))
            elif r["dice"] < min_dice:
                rows.append(dict(flag=LOW_AGREEMENT, structure=s, annotator=r["annotator_a"], other=r["annotator_b"],
                                 value=float(r["dice"]), threshold=min_dice,
                                 message=f"'{s}': Dice {r['dice']:.2f} between {r['annotator_a']} and "
                                         f"{r['annotator_b']} is below {min_dice:.2f}"))
        means = {}
        for a in sorted(have):
            sel = pp[(pp["annotator_a"] == a) | (pp["annotator_b"] == a)] if len(pp) else pp
            if len(sel):
                means[a] = float(sel["dice"].mean())
        if len(means) >= 3:
            for a, m in means.items():
                others = np.median([v for b, v in means.items() if b != a])
                if m < others - outlier_margin:
                    rows.append(dict(flag=OUTLIER_ANNOTATOR, structure=s, annotator=a, other="", value=m,
                                     threshold=float(others - outlier_margin),
                                     message=f"'{s}': {a}'s mean Dice {m:.2f} is far below the others' "
                                             f"median {others:.2f}"))
    return pd.DataFrame(rows, columns=FLAG_COLUMNS)
