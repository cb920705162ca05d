"""Pictures for reports: CT/PET slices with coloured segment overlays and a legend (matplotlib, Agg)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .io import atomic_write
from .labels import LabelSet

#: display windows (level - width/2, level + width/2) in HU
WINDOWS_HU = {"soft_tissue": (-160.0, 240.0), "abdomen": (-140.0, 260.0), "lung": (-1350.0, 150.0),
              "bone": (-450.0, 1050.0)}


def display_flips(direction: np.ndarray) -> tuple[bool, bool]:
    """(flip rows, flip columns) that show an axial slice in radiological convention.

    Anterior at the top (rows run toward posterior, +y in LPS) and the patient's right on the
    image's left (columns run toward the patient's left, +x in LPS). Only axis-aligned
    directions are corrected.
    """
    d = np.asarray(direction, float).reshape(3, 3)
    return bool(d[1, 1] < -0.5), bool(d[0, 0] < -0.5)


def _figure(n_panels: int, panel_size_in: float = 4.0):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n_panels, figsize=(panel_size_in * n_panels, panel_size_in + 0.6), squeeze=False)
    return fig, axes[0]


def draw_slice(ax, slice_2d: np.ndarray, *, window: tuple[float, float] = WINDOWS_HU["soft_tissue"],
               aspect: float = 1.0, masks: Sequence[tuple[np.ndarray, tuple[float, float, float], str]] = (),
               alpha: float = 0.45, linewidth: float = 0.8, title: str = "", cmap: str = "gray") -> list:
    """Draw a (Y, X) slice with filled, outlined masks on a matplotlib axis; return legend handles.

    ``aspect`` is pixel height / width (spacing_y / spacing_x) so anisotropic pixels look right.
    """
    from matplotlib.patches import Patch

    ax.imshow(slice_2d, cmap=cmap, vmin=window[0], vmax=window[1], aspect=aspect, interpolation="nearest")
    handles = []
    for mask, color, label in masks:
        m = np.asarray(mask, bool)
        if not m.any():
            continue
        if alpha > 0:
            rgba = np.zeros((*m.shape, 4))
            rgba[m] = (*color, alpha)
            ax.imshow(rgba, aspect=aspect, interpolation="nearest")
        ax.contour(m.astype(float), levels=[0.5], colors=[color], linewidths=linewidth)
        handles.append(Patch(facecolor=color, edgecolor=color, label=label))
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return handles


def labelset_overlay_png(image_array: np.ndarray, labels: LabelSet | None, path: str | Path, *,
                         slices: Sequence[int], spacing_mm: Sequence[float], titles: Sequence[str] | None = None,
                         window: tuple[float, float] = WINDOWS_HU["soft_tissue"], legend: dict[str, str] | None = None,
                         suptitle: str = "", direction: np.ndarray | None = None, alpha: float = 0.45,
                         linewidth: float = 0.8, force: bool = False) -> Path:
    """Write a PNG with one panel per slice index (axis 0 of a (Z, Y, X) array) and the label overlays.

    ``legend`` maps segment name → legend text (e.g. "muscle 152.3 cm², 38 HU"); default: the names.
    ``direction`` (the image's 3x3 direction) turns slices to radiological view; default: the
    label set's direction, else as stored.
    """
    if direction is None and labels is not None:
        direction = np.asarray(labels.geometry.direction).reshape(3, 3)
    flip_r, flip_c = display_flips(direction if direction is not None else np.eye(3))

    def view(a2d: np.ndarray) -> np.ndarray:
        return a2d[::-1 if flip_r else 1, ::-1 if flip_c else 1]

    fig, axes = _figure(len(slices), 4.0 if len(slices) > 1 else 5.5)
    aspect = float(spacing_mm[1]) / float(spacing_mm[2])
    handles = {}
    for i, (ax, k) in enumerate(zip(axes, slices, strict=True)):
        masks = []
        if labels is not None:
            for seg in labels:
                text = (legend or {}).get(seg.name, seg.name)
                masks.append((view(seg.mask[k]), seg.color, text))
        for h in draw_slice(ax, view(image_array[k]), window=window, aspect=aspect, masks=masks, alpha=alpha,
                            linewidth=linewidth,
                            title=titles[i] if titles else f"slice {k}"):
            handles[h.get_label()] = h
    if handles:
        fig.legend(handles=list(handles.values()), loc="lower center", ncol=min(2 if len(slices) == 1 else 4, len(handles)), fontsize=8,
                   frameon=False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout(rect=(0, 0.04 * ((len(handles) + 1) // 2) + 0.02 if handles else 0, 1,
                          0.95 if suptitle else 0.97))
    path = Path(path)
    with atomic_write(path, force) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
