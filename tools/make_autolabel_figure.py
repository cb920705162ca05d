"""Pictures and tables for the README from the shipped network (real results, no editing).

    .venv/bin/python tools/make_autolabel_figure.py

Writes ``docs/images/autolabel_crlm_proposal.png`` (TCIA CRLM-CT-1006 slice 9, about L3, a patient the
network never saw: CT, U-Net proposal, rule-based labels) and prints the card's IoU-bin table as Markdown.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "SlicerMedLabel"))
DATA = (REPO / ".." / "shared" / "data").resolve()


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medlabel import io
    from medlabel.autolabel import ModelRegistry, default_registry, predict
    from medlabel.autolabel.rule_based import RULE_BASED_NAME
    from medlabel.autolabel.shipped import SHIPPED_NAME
    from medlabel.viz import display_flips, draw_slice

    reg: ModelRegistry = default_registry(user_dirs=[])
    ct = io.read_image(DATA / "tcia_crlm" / "CRLM-CT-1006")
    k = 9
    nn = predict(ct, SHIPPED_NAME, slices=k, registry=reg)
    rb = predict(ct, RULE_BASED_NAME, slices=k, registry=reg)
    fr, fc = display_flips(ct.direction)

    def view(a):
        return a[::-1 if fr else 1, ::-1 if fc else 1]

    fig, axes = plt.subplots(1, 3, figsize=(12, 5.0), dpi=100)
    aspect = ct.spacing_mm[1] / ct.spacing_mm[2]
    draw_slice(axes[0], view(ct.array[k]), aspect=aspect, title=f"CRLM-CT-1006 slice {k} (about L3)")
    handles = None
    for ax, ls, title in ((axes[1], nn, f"{SHIPPED_NAME} proposal"), (axes[2], rb, "rule-based labeler")):
        masks = [(view(s.mask[k]), s.color, s.name.replace("_", " ")) for s in ls]
        areas = {s.name: s.mask[k].sum() * ct.pixel_area_mm2 / 100 for s in ls}
        h = draw_slice(ax, view(ct.array[k]), aspect=aspect, masks=masks,
                       title=f"{title}\nmuscle {areas['skeletal_muscle']:.0f} cm², SAT {areas['subcutaneous_fat']:.0f} cm²,"
                             f" VAT {areas['visceral_fat']:.0f} cm²")
        handles = handles or h
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.subplots_adjust(top=0.86)
    out = REPO / "docs" / "images" / "autolabel_crlm_proposal.png"
    fig.savefig(out)
    plt.close(fig)
    print(f"wrote {out}")
    d = {}
    for seg in nn:
        a, b = seg.mask[k], rb[seg.name].mask[k]
        d[seg.name] = 2 * np.logical_and(a, b).sum() / max(1, a.sum() + b.sum())
    print("Dice U-Net vs rule-based on this slice:", {n: round(float(v), 3) for n, v in d.items()})

    import pandas as pd

    from medlabel.autolabel import iou_bins, plot_iou_bins

    scores = pd.read_csv(REPO / "docs" / "benchmarks" / "autolabel_test_scores.csv")
    plot_iou_bins(iou_bins(scores), REPO / "docs" / "images" / "autolabel_iou_bins.png",
                  title=f"{SHIPPED_NAME}: IoU on the {scores['case'].nunique()} held-in test slices", force=True)
    card = reg.card(SHIPPED_NAME)
    bins = card.metrics["test"]["iou_bins"]
    cols = ["IoU >= 0.90", "0.80-0.89", "0.70-0.79", "< 0.70", "n"]
    print("\n| region | " + " | ".join(cols) + " | mean Dice |")
    print("|---|" + "---:|" * (len(cols) + 1))
    for region, row in bins.items():
        dice = card.metrics["test"]["dice"].get(region, card.metrics["test"]["mean_dice"])
        print(f"| {region.replace('_', ' ')} | " + " | ".join(str(row[c]) for c in cols) + f" | {dice:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
