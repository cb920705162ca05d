"""Review outputs: pairwise-Dice matrix, heat-map PNG and the files of ``medlabel consensus``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import InputError, OutputExistsError
from ..image import Image
from .consensus import ReviewResult


def dice_matrix(pairwise: pd.DataFrame, structure: str, *, annotators: list[str] | None = None,
                value: str = "dice") -> pd.DataFrame:
    """Square annotator × annotator matrix of ``value`` (diagonal 1) for one structure."""
    sel = pairwise[pairwise["structure"] == structure]
    if sel.empty:
        raise InputError(f"no pairwise rows for structure '{structure}'; structures: "
                         f"{sorted(set(pairwise['structure']))}")
    names = annotators or list(dict.fromkeys(list(sel["annotator_a"]) + list(sel["annotator_b"])))
    m = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for _, r in sel.iterrows():
        m.loc[r["annotator_a"], r["annotator_b"]] = m.loc[r["annotator_b"], r["annotator_a"]] = r[value]
    return m


def dice_heatmap_png(pairwise: pd.DataFrame, path, *, force: bool = False, value: str = "dice",
                     title: str = "Pairwise Dice") -> Path:
    """Write a PNG with one annotated heat map of pairwise ``value`` per structure (atomic)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..io import atomic_write

    structures = list(dict.fromkeys(pairwise["structure"]))
    if not structures:
        raise InputError("no pairwise rows to draw; were there at least 2 annotators per structure?")
    fig, axes = plt.subplots(1, len(structures), figsize=(4.2 * len(structures), 4.2), squeeze=False)
    for ax, s in zip(axes[0], structures, strict=True):
        m = dice_matrix(pairwise, s, value=value)
        im = ax.imshow(m.values, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(m)), m.columns, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(m)), m.index, fontsize=8)
        for i in range(len(m)):
            for j in range(len(m)):
                v = m.values[i, j]
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                        color="black" if v > 0.6 else "white")
        ax.set_title(s, fontsize=10)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label=value)
    fig.suptitle(title)
    with atomic_write(path, force) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


OUTPUT_FILES = ("consensus.seg.nrrd", "disagreement.nii.gz", "per_annotator.csv", "per_annotator.xlsx",
                "pairwise.csv", "pairwise.xlsx", "flags.csv", "flags.xlsx", "review.csv", "review.xlsx",
                "pairwise_dice.png", "review.json")


def write_review(result: ReviewResult, out_dir, *, force: bool = False) -> dict[str, Path]:
    """Write every output of a review into ``out_dir`` (names in :data:`OUTPUT_FILES`).

    ``annotations/<annotator>.seg.nrrd`` are the inputs with the review decisions in their segment
    tags (``MedLabel.Status``, ``MedLabel.ReviewDecision``, score, reference), ready to send back; an
    annotator who drew nothing (no segment; flagged ``missing_annotator``) gets no file.

    Nothing is written when any output exists and ``force`` is False (:class:`OutputExistsError`
    lists them). Each file is written atomically. ``review.json`` holds provenance: software
    version, parameters, annotators and input files.
    """
    from ..io import atomic_write, write_image, write_seg_nrrd, write_table

    out = Path(out_dir)
    existing = [f for f in OUTPUT_FILES if (out / f).exists()]
    if (out / "annotations").is_dir() and any((out / "annotations").iterdir()):
        existing.append("annotations/")
    if existing and not force:
        raise OutputExistsError(f"{out} already holds {', '.join(existing)}; nothing was written. "
                                "Pass --force (force=True) to replace them, or choose another folder")
    out.mkdir(parents=True, exist_ok=True)
    paths = {"consensus": write_seg_nrrd(result.consensus, out / "consensus.seg.nrrd", force=force)}
    g = result.consensus.geometry
    dis = Image(result.disagreement, g.spacing_mm, g.origin_lps, np.asarray(g.direction).reshape(3, 3))
    paths["disagreement"] = write_image(dis, out / "disagreement.nii.gz", force=force)
    for name, df in (("per_annotator", result.per_annotator), ("pairwise", result.pairwise),
                     ("flags", result.flags), ("review", result.review)):
        for suffix in ("csv", "xlsx"):
            paths[f"{name}_{suffix}"] = write_table(df, out / f"{name}.{suffix}", force=force, sheet_name=name)
    if len(result.pairwise):
        paths["heatmap"] = dice_heatmap_png(result.pairwise, out / "pairwise_dice.png", force=force)
    from .workflow import apply_review

    for ann in apply_review(result.annotations, result.review):
        if not len(ann.labels.names):  # drew nothing (flagged missing_annotator): no file to write
            continue
        name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in ann.annotator)
        paths[f"annotation_{ann.annotator}"] = write_seg_nrrd(ann.labels, out / "annotations" / f"{name}.seg.nrrd",
                                                            force=force)
    prov = {"software": f"medlabel {__version__}", "parameters": result.parameters,
            "inputs": [{"annotator": a.annotator, "skill": a.skill, "tool": a.tool, "source": a.source}
                       for a in result.annotations],
            "agreement": result.summary,
            "flags": int(len(result.flags)),
            "decisions": result.review["decision"].value_counts().to_dict() if len(result.review) else {}}
    with atomic_write(out / "review.json", force) as tmp:
        tmp.write_text(json.dumps(prov, indent=2, default=str))
    paths["provenance"] = out / "review.json"
    return paths
