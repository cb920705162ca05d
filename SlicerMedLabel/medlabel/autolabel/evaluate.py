"""Evaluation of auto-labels against a reference: per-region IoU and Dice, and the IoU summary bins.

IoU (Jaccard 1912) = |A∩B| / |A∪B|; Dice (Dice 1945, Sørensen 1948) = 2|A∩B| / (|A| + |B|) = 2 IoU / (1 + IoU).
The summary bins (IoU ≥ 0.90, 0.80–0.89, 0.70–0.79, < 0.70) are those of the labeling-system paper's
agreement table; bins are half-open: [0.9, 1], [0.8, 0.9), [0.7, 0.8), [0, 0.7).

Empty-reference policy: when both prediction and reference are empty the region is *not scored*
(IoU and Dice NaN, excluded from bins and means); when only one of them is empty, IoU = Dice = 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import GeometryError, InputError
from ..labels import LabelSet

IOU_BINS: tuple[tuple[str, float, float], ...] = (
    ("IoU >= 0.90", 0.90, np.inf), ("0.80-0.89", 0.80, 0.90), ("0.70-0.79", 0.70, 0.80), ("< 0.70", -np.inf, 0.70),
)


def iou_dice(pred: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """IoU and Dice of two boolean masks of the same shape (NaN, NaN when both are empty)."""
    pred, ref = np.asarray(pred, bool), np.asarray(ref, bool)
    if pred.shape != ref.shape:
        raise GeometryError(f"prediction shape {pred.shape} differs from reference shape {ref.shape}")
    inter = np.count_nonzero(pred & ref)
    a, b = np.count_nonzero(pred), np.count_nonzero(ref)
    if a + b == 0:
        return float("nan"), float("nan")
    return inter / (a + b - inter), 2.0 * inter / (a + b)


def labelmap_scores(pred: np.ndarray, ref: np.ndarray, labels: dict[int, str], *, case: str = "") -> pd.DataFrame:
    """Per-region scores of two label maps of the same shape.

    Parameters
    ----------
    pred, ref : ndarray of int, any same shape
        Predicted and reference label values.
    labels : dict value -> region name
    case : str
        Case id copied into the ``case`` column.

    Returns
    -------
    DataFrame
        Columns ``case, region, iou, dice, pred_px, ref_px``, one row per region.
    """
    pred, ref = np.asarray(pred), np.asarray(ref)
    if pred.shape != ref.shape:
        raise GeometryError(f"case {case!r}: prediction shape {pred.shape} differs from reference shape {ref.shape}")
    rows = []
    for value, name in labels.items():
        p, r = pred == value, ref == value
        iou, dice = iou_dice(p, r)
        rows.append({"case": case, "region": name, "iou": iou, "dice": dice,
                     "pred_px": int(p.sum()), "ref_px": int(r.sum())})
    return pd.DataFrame(rows)


def labelset_scores(pred: LabelSet, ref: LabelSet, *, names: list[str] | None = None, case: str = "",
                    slices: list[int] | None = None) -> pd.DataFrame:
    """Per-region scores of two label sets on the same grid, matching segments by name.

    ``names`` defaults to the segments present in both; ``slices`` restricts scoring to those slice
    indices (e.g. the slices a model was asked to label).
    """
    if not pred.geometry.matches(ref.geometry):
        raise GeometryError(f"case {case!r}: prediction grid {pred.geometry.shape} and reference grid "
                            f"{ref.geometry.shape} differ; resample one onto the other first")
    names = names or [n for n in pred.names if n in ref]
    if not names:
        raise InputError(f"case {case!r}: no segment names in common (prediction: {pred.names}; reference: {ref.names})")
    sel = slice(None) if slices is None else list(slices)
    rows = []
    for name in names:
        p = pred[name].mask[sel] if name in pred else np.zeros(ref[name].mask[sel].shape, bool)
        r = ref[name].mask[sel] if name in ref else np.zeros(p.shape, bool)
        iou, dice = iou_dice(p, r)
        rows.append({"case": case, "region": name, "iou": iou, "dice": dice,
                     "pred_px": int(p.sum()), "ref_px": int(r.sum())})
    return pd.DataFrame(rows)


def iou_bins(scores: pd.DataFrame, *, column: str = "iou") -> pd.DataFrame:
    """Count scored rows per region in the paper's IoU bins.

    Returns
    -------
    DataFrame
        Index = region (plus an ``all`` row), columns = the bin labels of :data:`IOU_BINS`, ``n``
        (scored rows) and ``mean_iou`` / ``mean_dice``. NaN rows (both empty) are not counted.
    """
    for col in ("region", column):
        if col not in scores.columns:
            raise InputError(f"scores table needs a {col!r} column; got {list(scores.columns)}")
    scored = scores.dropna(subset=[column])
    regions = list(dict.fromkeys(scores["region"]))
    rows = {}
    for region in [*regions, "all"]:
        part = scored if region == "all" else scored[scored["region"] == region]
        v = part[column].to_numpy(float)
        row = {label: int(((v >= lo) & (v < hi)).sum()) for label, lo, hi in IOU_BINS}
        row["n"] = len(v)
        row["mean_iou"] = float(np.mean(v)) if len(v) else float("nan")
        if "dice" in part:
            row["mean_dice"] = float(part["dice"].mean()) if len(v) else float("nan")
        rows[region] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def plot_iou_bins(table: pd.DataFrame, path: str | Path, *, title: str = "IoU against reference",
                  force: bool = False) -> Path:
    """Grouped bar chart of :func:`iou_bins` (bars = bins, groups = regions), saved as PNG atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .cards import atomic_write_bytes

    bins = [b[0] for b in IOU_BINS]
    regions = [r for r in table.index if r != "all"]
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    width = 0.8 / len(bins)
    colors = ["#2e7d32", "#9ccc65", "#ffb300", "#e53935"]
    x = np.arange(len(regions))
    for i, (b, c) in enumerate(zip(bins, colors, strict=True)):
        ax.bar(x + (i - (len(bins) - 1) / 2) * width, table.loc[regions, b], width, label=b, color=c)
    ax.set_xticks(x, [r.replace("_", " ") for r in regions])
    ax.set_ylabel("cases (slices)")
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return atomic_write_bytes(Path(path), buf.getvalue(), force=force)
