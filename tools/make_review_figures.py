"""Make the pictures and tables of the README (review) from real data (LIDC-IDRI-0314 readers) and
the L3 phantom with simulated annotators.

Run from the repository root:  .venv/bin/python tools/make_review_figures.py [--force]
Writes docs/images/review_*.png and prints the Markdown tables used in review.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "SlicerMedLabel"))

from medlabel import io  # noqa: E402
from medlabel.io import atomic_write  # noqa: E402
from medlabel.labels import LabelSet  # noqa: E402
from medlabel.phantom import make_l3_phantom  # noqa: E402
from medlabel.review.agreement import dice  # noqa: E402
from medlabel.review.consensus import review  # noqa: E402
from medlabel.review.inputs import annotation_from_labelset, load_annotations  # noqa: E402
from medlabel.review.report import dice_heatmap_png  # noqa: E402
from medlabel.review.simulate import simulate_annotators  # noqa: E402
from medlabel.viz import display_flips, draw_slice  # noqa: E402

DATA = ROOT / ".." / "shared" / "data"
IMAGES = ROOT / "docs" / "images"
COLORS = [(0.95, 0.3, 0.3), (0.3, 0.8, 0.3), (0.3, 0.5, 1.0), (1.0, 0.8, 0.2), (0.8, 0.4, 0.9)]


def md_table(df, cols, fmt="{:.3f}"):
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(fmt.format(r[c]) if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def lidc(force):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ct = io.read_image(DATA / "lidc_idri_0314" / "image")
    anns = load_annotations([DATA / "lidc_idri_0314" / f"reader{i}.nii.gz" for i in range(1, 5)],
                            label_names={1: "nodule"})
    res = review(anns, method="staple")
    dice_heatmap_png(res.pairwise, IMAGES / "review_lidc_pairwise_dice.png", force=force,
                     title="LIDC-IDRI-0314: pairwise Dice of 4 readers")
    union = np.logical_or.reduce([a.labels["nodule"].mask for a in anns])
    k = int(np.argmax(union.sum(axis=(1, 2))))
    ys, xs = np.nonzero(union[k])
    pad = 18
    box = (slice(ys.min() - pad, ys.max() + pad), slice(xs.min() - pad, xs.max() + pad))
    fr, fc = display_flips(ct.direction)

    def view(a):
        a = a[box]
        return a[::-1 if fr else 1, ::-1 if fc else 1]

    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    hs = draw_slice(axes[0], view(ct.array[k]), window=(-1000, 400), alpha=0.0,
                    masks=[(view(a.labels["nodule"].mask[k]), COLORS[i], a.annotator) for i, a in enumerate(anns)],
                    title=f"4 readers, slice k={k}")
    axes[0].legend(handles=hs, loc="lower left", fontsize=7)
    draw_slice(axes[1], view(ct.array[k]), window=(-1000, 400), title="STAPLE probability + consensus (>= 0.5)")
    axes[1].imshow(np.ma.masked_less(view(res.probability["nodule"][k]), 0.02), cmap="magma", vmin=0, vmax=1,
                   alpha=0.7)
    axes[1].contour(view(res.consensus["nodule"].mask[k]).astype(float), levels=[0.5], colors=["cyan"])
    draw_slice(axes[2], view(ct.array[k]), window=(-1000, 400), title="disagreement (readers off the majority)")
    im = axes[2].imshow(np.ma.masked_equal(view(res.disagreement[k]), 0), cmap="autumn_r", vmin=0, vmax=2,
                        alpha=0.8)
    fig.colorbar(im, ax=axes[2], shrink=0.7, ticks=[1, 2])
    fig.tight_layout()
    with atomic_write(IMAGES / "review_lidc_consensus.png", force) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    print("### LIDC per annotator\n")
    print(md_table(res.per_annotator, ["annotator", "voxels", "volume_ml", "dice_vs_consensus", "hd95_mm_vs_consensus",
                                       "msd_mm_vs_consensus", "mean_pairwise_dice", "staple_sensitivity"]))
    print("\n### LIDC pairwise\n")
    print(md_table(res.pairwise, ["annotator_a", "annotator_b", "dice", "iou", "hd95_mm", "msd_mm", "surface_dice"]))
    print("\n### LIDC decisions\n")
    print(md_table(res.review, ["annotator", "decision", "status", "score", "reference"]))


def phantom(force):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image, truth = make_l3_phantom((3, 256, 256), (3.0, 1.6, 1.6), noise_hu=5)
    names = ["skeletal_muscle", "vertebra", "visceral_fat", "subcutaneous_fat"]
    truth = LabelSet(truth.geometry, [truth[s] for s in names])
    team = simulate_annotators(truth, n=5, seed=2, novices=2)
    res = review([annotation_from_labelset(t) for t in team], method="staple")
    rows = []
    for s in names:
        each = {t.meta["annotator"]: dice(t[s].mask, truth[s].mask) for t in team}
        rows.append({"structure": s, **{a: v for a, v in each.items()}, "mean annotator": float(np.mean(list(each.values()))),
                     "STAPLE consensus": dice(res.consensus[s].mask, truth[s].mask)})
    import pandas as pd

    df = pd.DataFrame(rows)
    print("\n### Phantom: Dice to the known truth\n")
    print(md_table(df, list(df.columns)))
    print("\n### Phantom decisions (novices vs consensus at Dice 0.90)\n")
    print(md_table(res.review[res.review.structure == "skeletal_muscle"],
                   ["annotator", "skill", "structure", "decision", "score", "reference"]))
    k = 1
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    hs = draw_slice(axes[0], image.array[k], alpha=0.0, title="skeletal muscle: 5 simulated annotators",
                    masks=[(t["skeletal_muscle"].mask[k], COLORS[i],
                            f"{t.meta['annotator']} ({t['skeletal_muscle'].tags['MedLabel.Skill']})")
                           for i, t in enumerate(team)])
    axes[0].legend(handles=hs, loc="lower left", fontsize=7)
    hs = draw_slice(axes[1], image.array[k], alpha=0.0, title="truth vs STAPLE consensus",
                    masks=[(truth["skeletal_muscle"].mask[k], (1, 1, 1), "truth"),
                           (res.consensus["skeletal_muscle"].mask[k], (0, 0.9, 0.9), "consensus")])
    axes[1].legend(handles=hs, loc="lower left", fontsize=7)
    fig.tight_layout()
    with atomic_write(IMAGES / "review_phantom_team.png", force) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    lidc(a.force)
    phantom(a.force)
