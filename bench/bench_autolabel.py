"""Benchmark the shipped auto-label network against the rule-based labeler, in one run on the same slices.

    .venv/bin/python bench/bench_autolabel.py [--repeat 3]

1. 512 x 512 L3 phantom slices (0.8 mm, unseen noise seeds, exact truth): time per slice and Dice of
   the rule-based labeler (peer, medlabel.bodycomp.label_tissues) and of the U-Net (1 and 2 torch threads).
2. Real CT, TCIA CRLM-CT-1006 (held-out test patient, 512 x 512, slices 0-30 every 5): time per slice, and
   agreement (Dice) of the U-Net with the rule-based labeler (the labels it was trained to reproduce).
3. Network size: parameters and weights file size.

Times are medians of ``--repeat`` runs, inference only (model loaded before). The machine is shared (2 cores,
several developers' jobs at the same time), so absolute times vary between runs: compare the ratio.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from benchcommon import DATA  # first: puts SlicerMedLabel/ on sys.path
from benchcommon import median_time as timed


def dice_table(pred: np.ndarray, ref: np.ndarray, names: dict[int, str]) -> dict[str, float]:
    from medlabel.autolabel import iou_dice

    return {n: iou_dice(pred == v, ref == v)[1] for v, n in names.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import torch

    from medlabel import io
    from medlabel.autolabel import ModelCard, TorchUNetModel
    from medlabel.autolabel.cards import tissue_labels
    from medlabel.autolabel.registry import SHIPPED_MODELS_DIR
    from medlabel.autolabel.rule_based import _run_label_tissues
    from medlabel.autolabel.shipped import SHIPPED_NAME
    from medlabel.phantom import make_l3_phantom

    card = ModelCard.read(SHIPPED_MODELS_DIR / f"{SHIPPED_NAME}.card.json")
    names = {lab.value: lab.name for lab in tissue_labels()}
    models = {t: TorchUNetModel(card, threads=t, batch_size=1) for t in (1, 2)}
    models[1].network  # noqa: B018  load + hash check outside the timing
    models[2]._net = models[1].network
    print(f"CPU: {torch.get_num_threads()} torch threads available; shared machine, other jobs running\n")

    # 1. phantom slices with exact truth
    image, truth = make_l3_phantom((4, 512, 512), (3.0, 0.8, 0.8), seed=9001, z_variation=0.05)
    ref = np.zeros(image.shape, np.uint8)
    for v, n in names.items():
        ref[truth[n].mask] = v
    n = image.shape[0]
    t_rb, rb = timed(lambda: _run_label_tissues(image.array, image.spacing_mm[1:], image.direction, lambda f, t: None),
                     args.repeat)
    rows = [("rule-based (peer)", t_rb / n, dice_table(rb, ref, names))]
    for threads, m in models.items():
        t_nn, nn = timed(lambda m=m: m.predict_labelmap(image.array, image.spacing_mm[1:], direction=image.direction),
                         args.repeat)
        rows.append((f"U-Net, {threads} thread(s)", t_nn / n, dice_table(nn, ref, names)))
    print("1. L3 phantom, 4 slices of 512 x 512 at 0.8 mm (exact truth)")
    print(f"   {'method':22s} {'ms/slice':>9s}  " + "  ".join(f"{v[:10]:>10s}" for v in names.values()))
    for label, t, d in rows:
        print(f"   {label:22s} {1000 * t:9.1f}  " + "  ".join(f"{d[v]:10.3f}" for v in names.values()))
    print(f"   ratio rule-based / U-Net(1 thread): {rows[0][1] / rows[1][1]:.1f}x\n")

    # 2. real CT, held-out patient
    ct = io.read_image(DATA / "tcia_crlm" / "CRLM-CT-1006")
    ks = list(range(0, 31, 5))
    sl = ct.array[ks]
    t_rb, rb = timed(lambda: _run_label_tissues(sl, ct.spacing_mm[1:], ct.direction, lambda f, t: None), 1)
    t_nn, nn = timed(lambda: models[1].predict_labelmap(sl, ct.spacing_mm[1:], direction=ct.direction), args.repeat)
    agree = dice_table(nn, rb, names)
    print(f"2. TCIA CRLM-CT-1006, {len(ks)} slices of 512 x 512 at {ct.spacing_mm[1]:.2f} mm (held-out patient)")
    print(f"   rule-based (peer) {1000 * t_rb / len(ks):8.1f} ms/slice;  U-Net (1 thread) {1000 * t_nn / len(ks):8.1f} "
          f"ms/slice;  ratio {t_rb / t_nn:.1f}x")
    print("   U-Net agreement with rule-based labels (Dice): "
          + ", ".join(f"{k} {v:.3f}" for k, v in agree.items()) + "\n")

    # 3. size
    wp = card.weights_path()
    print(f"3. {card.model_id}: {card.parameters:,} parameters (limit 10,000,000); weights {wp.stat().st_size / 1e6:.2f} MB "
          f"(float16); input grid {card.input_spacing_mm} mm, window {card.window_hu} HU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
