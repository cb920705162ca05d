#!/usr/bin/env python3
"""Make the README pictures and the effect icons of medlabel.segment from real CT/PET.

Run from the repository root:  .venv/bin/python tools/make_segment_figures.py
(needs ../shared/data; overwrites docs/images/segment_grabcut.png, docs/images/segment_backprojection.png
and the two effect icons SegmentEditor{GrabCut,BackProjection}/Resources/Icons/*.png).

GrabCut: the issue-8 protocol on one slice of each reference set (LIDC-0314 nodule, STS_001 sarcoma on
CT and on PET): A = box with a 5-pixel margin (2 on PET), B = the same box + one foreground stroke.
Back projection: STS_001 CT (thigh), a rectangle in subcutaneous fat and one in muscle; each finds
the similar voxels of the whole slice.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches as patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "SlicerMedLabel"))
sys.path.insert(0, str(REPO / "bench"))

import bench_segment as B  # noqa: E402

from medlabel.segment import Box, back_project, dice  # noqa: E402

IMAGES = REPO / "docs" / "images"
ICONS = REPO / "SlicerMedLabel"


def _window(img, modality):
    lo, hi = {"CT": (-400, 300), "lung": (-1000, 300), "PET": (0, float(np.percentile(img, 99.5)))}[modality]
    return np.clip((img - lo) / (hi - lo), 0, 1)


def grabcut_figure(sets):
    cases = [("nodule (LIDC-0314)", 13, "lung", "LIDC-0314 nodule, CT"),
             ("sarcoma CT (STS_001)", 27, "CT", "STS_001 sarcoma, CT"),
             ("sarcoma PET (STS_001)", 27, "PET", "STS_001 sarcoma, PET")]
    fig, axs = plt.subplots(2, 3, figsize=(11, 7.6))
    for col, (name, k, win, title) in enumerate(cases):
        s = sets[name]
        task = next(t for t in B.slice_tasks(s) if t[0] == k)
        _, img, ref, b, stroke = task
        a = B.ours_a(img, b, s["spacing_mm"])
        bb = B.ours_b(img, b, s["spacing_mm"], stroke)
        cv = B.opencv_a(img, b)
        pad = 12 if win != "PET" else 4
        y0, y1 = max(0, b.y0 - pad), min(img.shape[0], b.y1 + pad)
        x0, x1 = max(0, b.x0 - pad), min(img.shape[1], b.x1 + pad)
        for row, (mask, label) in enumerate([(a, "A: box only"), (bb, "B: box + stroke")]):
            ax = axs[row, col]
            ax.imshow(_window(img[y0:y1, x0:x1], win), cmap="gray", interpolation="nearest")
            ax.add_patch(patches.Rectangle((b.x0 - x0 - 0.5, b.y0 - y0 - 0.5), b.x1 - b.x0, b.y1 - b.y0,
                                           fill=False, ec="yellow", lw=1.2, ls="--"))
            ax.contour(ref[y0:y1, x0:x1], [0.5], colors="lime", linewidths=1.2)
            ax.contour(mask[y0:y1, x0:x1], [0.5], colors="red", linewidths=1.4)
            extra = ""
            if row == 0:
                if cv.any():
                    ax.contour(cv[y0:y1, x0:x1], [0.5], colors="deepskyblue", linewidths=1.0, linestyles=":")
                extra = f", OpenCV {dice(cv, ref):.2f}"
            else:
                ax.contour(stroke[y0:y1, x0:x1], [0.5], colors="orange", linewidths=1.0)
            ax.set_title(f"{title} (slice {k})\n{label}: Dice {dice(mask, ref):.2f}{extra}", fontsize=9)
            ax.axis("off")
    fig.suptitle("medlabel GrabCut (red) vs reference (green); box yellow dashed, stroke orange, "
                 "OpenCV grabCut blue dotted", fontsize=10)
    fig.tight_layout()
    out = IMAGES / "segment_grabcut.png"
    fig.savefig(out, dpi=90)
    plt.close(fig)
    print(out)
    return cases


def _rect_inside(mask, half=5, avoid=None):
    core = ndi.binary_erosion(mask, np.ones((2 * half + 3, 2 * half + 3), bool))
    if avoid is not None:
        core &= ~ndi.binary_dilation(avoid, iterations=10)
    ys, xs = np.nonzero(core)
    i = len(ys) // 2
    return int(ys[i]), int(xs[i])


def backprojection_figure(sets):
    s = sets["sarcoma CT (STS_001)"]
    k = 27
    img = s["image"][k]
    ref = s["ref"][k]
    smooth = ndi.uniform_filter(img.astype(float), 7)       # only to place the rectangles in clean tissue
    fat = (smooth > -150) & (smooth < -50)
    muscle = (smooth > 20) & (smooth < 80)
    lab, _ = ndi.label(fat)
    big_fat = lab == np.argmax(np.bincount(lab.ravel())[1:]) + 1
    cases = []
    for name, tissue, avoid in (("subcutaneous fat", big_fat, None), ("muscle", muscle, ref)):
        y, x = _rect_inside(tissue, avoid=avoid)
        roi = Box.rect(0, y - 5, y + 6, x - 5, x + 6)
        r = back_project(img[None].astype(np.int16), roi, spacing_mm=s["spacing_mm"], scope="slice", bins=32,
                         threshold=0.05, min_island_vox=20)
        cases.append((name, roi, r))
    fig, axs = plt.subplots(1, 3, figsize=(12, 4.9))
    axs[0].imshow(_window(img, "CT"), cmap="gray")
    axs[0].set_title(f"STS_001 CT slice {k} (thigh), window -400..300 HU", fontsize=9)
    for ax, (name, roi, r) in zip(axs[1:], cases, strict=True):
        ax.imshow(_window(img, "CT"), cmap="gray")
        over = np.zeros((*img.shape, 4))
        over[r.mask[0]] = (1.0, 0.8, 0.1, 0.55)
        ax.imshow(over)
        ax.add_patch(patches.Rectangle((roi.x0 - 0.5, roi.y0 - 0.5), roi.x1 - roi.x0, roi.y1 - roi.y0, fill=False,
                                       ec="red", lw=1.5))
        lo, hi = r.histogram.edges[0], r.histogram.edges[-1]
        ax.set_title(f"rectangle in {name} (red) -> {int(r.mask.sum())} px found\n"
                     f"ROI range {lo:.0f}..{hi:.0f} HU, 32 bins, threshold 0.05", fontsize=9)
    for ax in axs:
        ax.axis("off")
    fig.tight_layout()
    out = IMAGES / "segment_backprojection.png"
    fig.savefig(out, dpi=90)
    plt.close(fig)
    print(out)
    return img, cases


def icons(sets, bp):
    s = sets["nodule (LIDC-0314)"]
    _, img, ref, b, stroke = next(t for t in B.slice_tasks(s) if t[0] == 13)
    m = B.ours_a(img, b, s["spacing_mm"])
    pad = 6
    y0, y1, x0, x1 = b.y0 - pad, b.y1 + pad, b.x0 - pad, b.x1 + pad
    _icon(_window(img[y0:y1, x0:x1], "lung"), m[y0:y1, x0:x1], (b.y0 - y0, b.y1 - y0, b.x0 - x0, b.x1 - x0),
          ICONS / "SegmentEditorGrabCut" / "Resources" / "Icons" / "SegmentEditorGrabCut.png", contour=True)
    ct, cases = bp
    name, roi, r = cases[0]
    cy, cx = (roi.y0 + roi.y1) // 2, (roi.x0 + roi.x1) // 2
    h = 40
    y0, x0 = max(0, cy - h), max(0, cx - h)
    crop = (slice(y0, y0 + 2 * h), slice(x0, x0 + 2 * h))
    _icon(_window(ct[crop], "CT"), r.mask[0][crop], (roi.y0 - y0, roi.y1 - y0, roi.x0 - x0, roi.x1 - x0),
          ICONS / "SegmentEditorBackProjection" / "Resources" / "Icons" / "SegmentEditorBackProjection.png",
          contour=False)


def _icon(gray, mask, rect, path, contour):
    fig = plt.figure(figsize=(1, 1), dpi=64)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(gray, cmap="gray", interpolation="bilinear")
    if contour:
        ax.contour(mask, [0.5], colors="red", linewidths=2.0)
    else:
        over = np.zeros((*mask.shape, 4))
        over[mask] = (1.0, 0.8, 0.1, 0.6)
        ax.imshow(over)
    y0, y1, x0, x1 = rect
    ax.add_patch(patches.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="yellow", lw=1.5))
    ax.axis("off")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=64)
    plt.close(fig)
    print(path)


def main():
    sets = B.load_sets()
    IMAGES.mkdir(parents=True, exist_ok=True)
    grabcut_figure(sets)
    bp = backprojection_figure(sets)
    icons(sets, bp)


if __name__ == "__main__":
    main()
