"""Review workflow: accept / redo / adjudicate decisions, stored in segment tags and a review table.

Rule (lung-cancer data guideline, configurable): a trainee's (novice's) annotation is *accepted* when
its agreement with the reference (an expert's annotation or the consensus) reaches the threshold
(default Dice >= 0.90), else it goes back for *redo*; two experts who disagree beyond a threshold
(default Dice < 0.80) go to *adjudication*. Decisions become segment tags (``MedLabel.Status`` and
``MedLabel.Review*``), so they survive a save to ``.seg.nrrd``; the same facts form the review table
(CSV), from which tags can be restored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from ..errors import InputError
from ..labels import TAG_STATUS, LabelSet, Skill, Status, now_iso
from .agreement import dice, iou, surface_metrics
from .inputs import Annotation

TAG_DECISION = "MedLabel.ReviewDecision"
TAG_SCORE = "MedLabel.ReviewScore"
TAG_METRIC = "MedLabel.ReviewMetric"
TAG_REFERENCE = "MedLabel.ReviewReference"
TAG_REVIEWER = "MedLabel.Reviewer"
TAG_REVIEW_TIME = "MedLabel.ReviewTime"

ACCEPT, REDO, ADJUDICATE = "accept", "redo", "adjudicate"
METRICS = ("dice", "iou", "surface_dice")
REVIEW_COLUMNS = ["annotator", "skill", "tool", "structure", "decision", "status", "metric", "score", "threshold",
                  "reference", "reviewer", "time", "source"]
_DECISION_STATUS = {ACCEPT: Status.ACCEPTED.value, REDO: Status.REDO.value, ADJUDICATE: Status.SUBMITTED.value}


def score(a: np.ndarray, b: np.ndarray, *, metric: str = "dice", spacing_mm=(1.0, 1.0, 1.0),
          tolerance_mm: float = 2.0) -> float:
    """Agreement of two masks by ``metric`` ('dice', 'iou' or 'surface_dice' at ``tolerance_mm``)."""
    if metric == "dice":
        return dice(a, b)
    if metric == "iou":
        return iou(a, b)
    if metric == "surface_dice":
        return surface_metrics(a, b, spacing_mm=spacing_mm, tolerance_mm=tolerance_mm)["surface_dice"]
    raise InputError(f"unknown review metric {metric!r}; known: {', '.join(METRICS)}")


def review_decisions(annotations: Sequence[Annotation], *, consensus: Mapping[str, np.ndarray] | None = None,
                     reference_annotator: str | None = None, metric: str = "dice", accept_threshold: float = 0.9,
                     adjudication_threshold: float = 0.8, tolerance_mm: float = 2.0,
                     reviewer: str = "medlabel") -> pd.DataFrame:
    """Decide accept / redo / adjudicate for every (annotator, structure).

    Parameters
    ----------
    annotations : sequence of Annotation
        On one grid (see :func:`medlabel.review.inputs.align_annotations`).
    consensus : mapping structure → (Z, Y, X) bool mask, optional, keyword-only
        Reference for novices when ``reference_annotator`` is not given.
    reference_annotator : str, optional
        An expert whose annotation is the reference for novices.
    metric : {'dice', 'iou', 'surface_dice'}
    accept_threshold : float
        Novice accepted when score >= this (default 0.90).
    adjudication_threshold : float
        Two experts with score < this on a structure both go to adjudication (default 0.80).
    tolerance_mm : float
        For ``surface_dice``.

    Returns
    -------
    DataFrame
        The review table (columns :data:`REVIEW_COLUMNS`), one row per (annotator, structure).
        Experts with no disagreement are accepted; experts are scored against the other experts (the
        lowest pairwise score is reported) or, when alone, against the consensus.
    """
    if metric not in METRICS:
        raise InputError(f"unknown review metric {metric!r}; known: {', '.join(METRICS)}")
    for name, t in (("accept_threshold", accept_threshold), ("adjudication_threshold", adjudication_threshold)):
        if not 0 <= t <= 1:
            raise InputError(f"{name} must be in 0..1; got {t}")
    by_name = {a.annotator: a for a in annotations}
    if reference_annotator is not None and reference_annotator not in by_name:
        raise InputError(f"reference_annotator '{reference_annotator}' is not among the annotators "
                         f"{', '.join(by_name)}")
    sp = annotations[0].labels.geometry.spacing_mm if annotations else (1.0, 1.0, 1.0)
    when = now_iso()
    rows = []

    def sc(x, y):
        return score(x, y, metric=metric, spacing_mm=sp, tolerance_mm=tolerance_mm)

    structures: list[str] = []
    for a in annotations:
        structures += [n for n in a.labels.names if n not in structures]
    for s in structures:
        have = [a for a in annotations if s in a.labels]
        experts = [a for a in have if a.skill == Skill.EXPERT.value]
        expert_score: dict[str, float] = {}
        expert_other: dict[str, str] = {}
        for x, y in combinations(experts, 2):
            v = sc(x.labels[s].mask, y.labels[s].mask)
            for me, other in ((x, y), (y, x)):
                if v < expert_score.get(me.annotator, np.inf):
                    expert_score[me.annotator] = v
                    expert_other[me.annotator] = other.annotator
        for a in have:
            row = {"annotator": a.annotator, "skill": a.skill, "tool": a.tool, "structure": s, "metric": metric,
                   "reviewer": reviewer, "time": when, "source": a.source}
            if a.skill == Skill.NOVICE.value:
                if reference_annotator is not None and s in by_name[reference_annotator].labels:
                    ref, ref_name = by_name[reference_annotator].labels[s].mask, reference_annotator
                elif consensus is not None and s in consensus:
                    ref, ref_name = consensus[s], "consensus"
                else:
                    raise InputError(f"no reference for novice {a.annotator} on '{s}': pass a consensus or a "
                                     "reference_annotator who drew that structure")
                v = sc(a.labels[s].mask, ref)
                decision = ACCEPT if v >= accept_threshold else REDO
                row.update(score=v, threshold=accept_threshold, reference=ref_name, decision=decision)
            elif a.annotator in expert_score:
                v = expert_score[a.annotator]
                decision = ADJUDICATE if v < adjudication_threshold else ACCEPT
                row.update(score=v, threshold=adjudication_threshold, reference=expert_other[a.annotator],
                           decision=decision)
            else:  # a lone expert
                v = sc(a.labels[s].mask, consensus[s]) if consensus is not None and s in consensus else np.nan
                row.update(score=v, threshold=np.nan, reference="consensus" if np.isfinite(v) else "",
                           decision=ACCEPT)
            row["status"] = _DECISION_STATUS[row["decision"]]
            rows.append(row)
    return pd.DataFrame(rows, columns=REVIEW_COLUMNS)


def _fmt(v) -> str:
    try:
        return "" if v is None or not np.isfinite(float(v)) else f"{float(v):.4f}"
    except (TypeError, ValueError):
        return str(v)


def apply_review(annotations: Sequence[Annotation], table: pd.DataFrame) -> list[Annotation]:
    """New annotations whose segments carry the table's status and review tags (inputs untouched)."""
    missing = [c for c in ("annotator", "structure", "status") if c not in table.columns]
    if missing:
        raise InputError(f"review table lacks columns {missing}; expected {REVIEW_COLUMNS}")
    out = []
    for a in annotations:
        ls = a.labels.copy()
        for _, r in table[table["annotator"].astype(str) == a.annotator].iterrows():
            if r["structure"] not in ls:
                continue
            tags = ls[r["structure"]].tags
            tags[TAG_STATUS] = str(r["status"])
            for key, col in ((TAG_DECISION, "decision"), (TAG_METRIC, "metric"), (TAG_REFERENCE, "reference"),
                             (TAG_REVIEWER, "reviewer"), (TAG_REVIEW_TIME, "time")):
                if col in r and isinstance(r[col], str) and r[col]:
                    tags[key] = r[col]
            if "score" in r:
                tags[TAG_SCORE] = _fmt(r["score"])
        out.append(Annotation(a.annotator, ls, a.skill, a.tool, a.source, dict(a.extra)))
    return out


def set_status(labels: LabelSet, status: Status | str, *, names: Sequence[str] | None = None,
               reviewer: str = "") -> LabelSet:
    """A copy of ``labels`` with ``MedLabel.Status`` set on the named segments (all by default).

    ``status`` is one of draft, submitted, accepted, redo, adjudicated (the GUI's buttons).
    """
    try:
        st = Status(str(status).lower())
    except ValueError:
        raise InputError(f"unknown status {status!r}; known: {', '.join(s.value for s in Status)}") from None
    unknown = [n for n in (names or []) if n not in labels]
    if unknown:
        raise InputError(f"set_status: no segments named {unknown}; segments: {labels.names}")
    out = labels.copy()
    out.set_tag(TAG_STATUS, st.value, names)
    out.set_tag(TAG_REVIEW_TIME, now_iso(), names)
    if reviewer:
        out.set_tag(TAG_REVIEWER, reviewer, names)
    if st is Status.ADJUDICATED:
        out.set_tag(TAG_DECISION, ADJUDICATE, names)
    return out


def review_table_from_tags(annotations: Sequence[Annotation]) -> pd.DataFrame:
    """Rebuild the review table from segment tags (e.g. after reloading ``.seg.nrrd`` files)."""
    rows = []
    for a in annotations:
        for seg in a.labels:
            t = seg.tags
            sc_txt = t.get(TAG_SCORE, "")
            rows.append({"annotator": a.annotator, "skill": a.skill, "tool": a.tool, "structure": seg.name,
                         "decision": t.get(TAG_DECISION, ""), "status": t.get(TAG_STATUS, ""),
                         "metric": t.get(TAG_METRIC, ""), "score": float(sc_txt) if sc_txt else np.nan,
                         "threshold": np.nan, "reference": t.get(TAG_REFERENCE, ""),
                         "reviewer": t.get(TAG_REVIEWER, ""), "time": t.get(TAG_REVIEW_TIME, ""),
                         "source": a.source})
    return pd.DataFrame(rows, columns=REVIEW_COLUMNS)


def read_review_table(path) -> pd.DataFrame:
    """Read a review table written by the CLI/GUI (CSV or XLSX) and check its columns."""
    from ..io import read_table

    df = read_table(path)
    missing = [c for c in ("annotator", "structure", "status") if c not in df.columns]
    if missing:
        raise InputError(f"{path}: not a review table, columns {missing} are missing (expected {REVIEW_COLUMNS})")
    for c in ("annotator", "structure", "status", "decision", "metric", "reference", "reviewer", "time"):
        if c in df.columns:
            df[c] = df[c].fillna("").astype(str)
    return df
