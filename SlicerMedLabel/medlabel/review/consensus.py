"""One call for a whole review: consensus per structure + agreement tables + flags + decisions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from ..labels import TAG_ANNOTATOR, TAG_SOURCE, TAG_STATUS, TAG_TOOL, LabelSet, Status, Tool, now_iso
from .agreement import agreement_tables, disagreement_map, fleiss_kappa
from .flags import review_flags
from .inputs import Annotation, align_annotations, structure_names
from .staple import multilabel_staple, staple
from .voting import k_of_n, majority_vote, performance_weights, weighted_vote
from .workflow import review_decisions

METHODS = ("staple", "majority", "kofn", "weighted", "multilabel")
TAG_METHOD = "MedLabel.ConsensusMethod"
TAG_ANNOTATORS = "MedLabel.ConsensusOf"


@dataclass
class ReviewResult:
    """Everything a review produces.

    Attributes
    ----------
    consensus : LabelSet
        One segment per structure (tags: method, annotators, source=consensus).
    probability : dict structure → (Z, Y, X) float64
        STAPLE posterior (staple and weighted methods) or vote fraction (voting methods).
    disagreement : (Z, Y, X) uint8
        Max over structures of the number of annotators who disagree with the majority.
    pairwise, per_annotator, flags, review : DataFrame
    summary : dict
        Fleiss' kappa per structure (inside/outside) and over the annotators' label maps.
    """

    consensus: LabelSet
    probability: dict[str, np.ndarray]
    disagreement: np.ndarray
    pairwise: pd.DataFrame
    per_annotator: pd.DataFrame
    flags: pd.DataFrame
    review: pd.DataFrame
    annotations: list[Annotation] = field(repr=False, default_factory=list)
    parameters: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


def review(annotations: Sequence[Annotation], *, method: str = "staple", k: int | None = None,
           min_dice: float = 0.5, tolerance_mm: float = 2.0, metric: str = "dice", accept_threshold: float = 0.9,
           adjudication_threshold: float = 0.8, reference_annotator: str | None = None,
           structures: Sequence[str] | None = None, surface: bool = True,
           progress: Callable[[float, str], None] | None = None) -> ReviewResult:
    """Fuse several annotators' segmentations and measure how far they agree.

    Parameters
    ----------
    annotations : sequence of Annotation
        Two or more; grids that differ but overlap are resampled onto the first one (warning).
    method : {'staple', 'majority', 'kofn', 'weighted', 'multilabel'}, keyword-only
        Consensus per structure: binary STAPLE (mask = posterior >= 0.5), strict majority, k-of-n
        (needs ``k``), a vote weighted by STAPLE's Youden J per annotator, or one multi-label STAPLE
        over all structures (each annotator's segments as one label map, later segment wins on
        overlap; voxels with a tied posterior belong to no structure).
    k : int, optional
        For 'kofn'.
    min_dice, tolerance_mm : float
        Low-agreement flag threshold; surface Dice tolerance (mm).
    metric, accept_threshold, adjudication_threshold, reference_annotator
        Workflow rule, see :func:`medlabel.review.workflow.review_decisions`.
    structures : sequence of str, optional
        Structures to review (default: all).
    surface : bool
        False skips the surface-distance columns (HD, HD95, MSD, surface Dice) of the tables, which
        dominate the time on large structures.

    Returns
    -------
    ReviewResult
    """
    progress = progress or (lambda f, t: None)
    if method not in METHODS:
        raise InputError(f"unknown consensus method {method!r}; known: {', '.join(METHODS)}")
    if len(annotations) < 2:
        raise InputError(f"a review needs at least 2 annotations; got {len(annotations)}")
    if method == "kofn" and k is None:
        raise InputError("method 'kofn' needs k (number of annotators that must agree), e.g. --k 2")
    # check the numbers before the (long) fusion, not after it
    if not (np.isfinite(tolerance_mm) and tolerance_mm >= 0):
        raise InputError(f"tolerance_mm (surface Dice tolerance) must be a number >= 0 mm; got {tolerance_mm}")
    for pname, t in (("min_dice", min_dice), ("accept_threshold", accept_threshold),
                     ("adjudication_threshold", adjudication_threshold)):
        if not 0 <= t <= 1:
            raise InputError(f"{pname} must be in 0..1; got {t}")
    progress(0.0, "aligning annotations")
    anns = align_annotations(annotations)
    geom = anns[0].labels.geometry
    names = [a.annotator for a in anns]
    all_structures = structure_names(anns)
    if not all_structures:
        raise InputError(f"none of the {len(anns)} annotations ({', '.join(names)}) holds a segment (all label "
                         "maps are empty): there is nothing to compare; check that these are the right files")
    structures = list(structures) if structures else all_structures
    unknown = [s for s in structures if s not in all_structures]
    if unknown:
        raise InputError(f"structures {unknown} are in no annotation; found: {all_structures}")
    consensus = LabelSet(geom, meta={"annotator": "consensus", "method": method})
    probability: dict[str, np.ndarray] = {}
    disagreement = np.zeros(geom.shape, np.uint8)
    perf_rows = []
    kappas: dict[str, float] = {}
    ml = None
    if method == "multilabel":
        progress(0.05, f"multi-label STAPLE of {len(structures)} structures")
        maps = [a.labels.to_labelmap(order=[s for s in structures if s in a.labels]) for a in anns]
        # renumber so that value i+1 means structures[i] for every annotator
        fixed = []
        for a, lm in zip(anns, maps, strict=True):
            present = [s for s in structures if s in a.labels]
            lut = np.zeros(len(present) + 1, np.uint16)
            for j, s in enumerate(present, start=1):
                lut[j] = structures.index(s) + 1
            fixed.append(lut[lm].astype(np.uint8 if len(structures) < 255 else np.uint16))
        ml = multilabel_staple(fixed)
    for si, s in enumerate(structures):
        have = [a for a in anns if s in a.labels]
        masks = [a.labels[s].mask for a in have]
        progress(0.05 + 0.45 * si / len(structures), f"consensus of '{s}' ({method}, {len(masks)} annotators)")
        if ml is not None:
            value = structures.index(s) + 1
            mask = ml.labels == value
            probability[s] = ml.probability(value) if value < ml.confusion.shape[2] else np.zeros(geom.shape)
        elif method in ("staple", "weighted"):
            r = staple(masks)
            for a, p, q in zip(have, r.sensitivity, r.specificity, strict=True):
                perf_rows.append({"structure": s, "annotator": a.annotator, "staple_sensitivity": float(p),
                                  "staple_specificity": float(q)})
            if method == "staple":
                mask, probability[s] = r.mask, r.probability
            else:
                w = performance_weights(r.sensitivity, r.specificity)
                if w.sum() <= 0:
                    w = np.ones(len(masks))
                mask = weighted_vote(masks, weights=w)
                probability[s] = r.probability
        else:
            if method == "majority":
                mask = majority_vote(masks)
            else:
                if not 1 <= k <= len(masks):
                    raise InputError(f"k={k} but only {len(masks)} annotators drew '{s}'; use 1..{len(masks)}")
                mask = k_of_n(masks, k=k)
            probability[s] = sum(m.astype(np.float32) for m in masks) / np.float32(len(masks))
        first = have[0].labels[s]
        consensus.add(first.copy(mask=mask, tags={
            TAG_ANNOTATOR: "consensus", TAG_SOURCE: "consensus", TAG_TOOL: Tool.AUTOMATIC.value,
            TAG_STATUS: Status.SUBMITTED.value, TAG_METHOD: method if method != "kofn" else f"kofn:{k}",
            TAG_ANNOTATORS: ",".join(a.annotator for a in have), "MedLabel.Time": now_iso()}))
        np.maximum(disagreement, disagreement_map(masks), out=disagreement)
        kappas[s] = fleiss_kappa(masks) if len(masks) >= 2 else float("nan")
    progress(0.5, "agreement tables")
    masks_by = {a.annotator: {s: a.labels[s].mask for s in structures if s in a.labels} for a in anns}
    tables = agreement_tables(masks_by, spacing_mm=geom.spacing_mm, consensus={s.name: s.mask for s in consensus},
                              tolerance_mm=tolerance_mm, surface=surface,
                              progress=lambda f, t: progress(0.5 + 0.4 * f, t))
    per = tables["per_annotator"]
    skills = {a.annotator: (a.skill, a.tool) for a in anns}
    per.insert(2, "skill", per["annotator"].map(lambda a: skills[a][0]))
    per.insert(3, "tool", per["annotator"].map(lambda a: skills[a][1]))
    if perf_rows:
        per = per.merge(pd.DataFrame(perf_rows), on=["structure", "annotator"], how="left")
    flags = review_flags(tables["pairwise"], per, annotators=names, structures=structures, min_dice=min_dice)
    progress(0.92, "review decisions")
    decisions = review_decisions([a for a in anns], consensus={s.name: s.mask for s in consensus},
                                 reference_annotator=reference_annotator, metric=metric,
                                 accept_threshold=accept_threshold, adjudication_threshold=adjudication_threshold,
                                 tolerance_mm=tolerance_mm)
    decisions = decisions[decisions["structure"].isin(structures)].reset_index(drop=True)
    progress(1.0, "review done")
    params = {"method": method, "k": k, "surface_metrics": surface, "min_dice": min_dice,
              "tolerance_mm": tolerance_mm, "metric": metric,
              "accept_threshold": accept_threshold, "adjudication_threshold": adjudication_threshold,
              "reference_annotator": reference_annotator, "annotators": names, "structures": structures}
    summary: dict = {"fleiss_kappa": kappas}
    if ml is not None:  # rows: label the annotator gave (0 = background, last row = ITK's reject row)
        summary["labels"] = ["background", *structures]
        summary["confusion_matrices"] = {a.annotator: np.round(ml.confusion[k], 6).tolist()
                                         for k, a in enumerate(anns)}
        summary["iterations"] = ml.iterations
    complete = [a for a in anns if all(s in a.labels for s in structures)]
    if len(structures) > 1 and len(complete) >= 2:
        maps = [a.labels.to_labelmap(order=structures) for a in complete]
        summary["fleiss_kappa_labelmap"] = fleiss_kappa(maps)
    return ReviewResult(consensus, probability, disagreement, tables["pairwise"], per, flags, decisions, anns, params,
                        summary)
