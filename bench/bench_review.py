"""Benchmark medlabel.review against SimpleITK on a 512x512x300 volume with 5 annotators.

Run from the repository root:  .venv/bin/python bench/bench_review.py  [--size 300] [--repeat 3]
Prints, per task, SimpleITK time, our time, the speed-up and the agreement. The machine is shared
(2 cores, other developers' jobs run at the same time), so times vary between runs; peers and ours
run in the same process one after the other.
"""

from __future__ import annotations

import argparse

import numpy as np
import SimpleITK as sitk
from benchcommon import best_time as timed  # puts SlicerMedLabel/ on sys.path

from medlabel.review.agreement import agreement_tables
from medlabel.review.staple import multilabel_staple, staple


def annotators(shape, n=5, labels=1, seed=0):
    """n label maps of nested ellipsoids (labels 1..labels) with per-annotator size/shift/wobble."""
    rng = np.random.default_rng(seed)
    z, y, x = (np.arange(s, dtype=np.float32) for s in shape)
    cz, cy, cx = shape[0] / 2, shape[1] / 2, shape[2] / 2
    out = []
    for _ in range(n):
        lab = np.zeros(shape, np.uint8)
        dz, dy, dx = rng.normal(0, 2, 3)
        zz = ((z - cz - dz) / (shape[0] * 0.30))[:, None, None] ** 2
        yy = ((y - cy - dy) / (shape[1] * 0.25))[None, :, None] ** 2
        xx = ((x - cx - dx) / (shape[2] * 0.30))[None, None, :] ** 2
        wob = (0.04 * np.sin(x / rng.uniform(5, 9) + rng.uniform(0, 6)))[None, None, :].astype(np.float32)
        r2 = zz + yy + xx + wob
        scale = rng.uniform(0.95, 1.05)
        for lv in range(1, labels + 1):
            lab[r2 < (scale * (1.0 - 0.2 * (lv - 1))) ** 2] = lv
        out.append(lab)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=300, help="number of slices (512x512 each)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-multilabel", action="store_true")
    args = ap.parse_args(argv)
    shape = (args.size, 512, 512)
    print(f"volume {shape}, 5 annotators; shared 2-core machine (other jobs running): times are best of {args.repeat}")

    bins = [a.astype(bool) for a in annotators(shape, 5, 1, seed=1)]
    imgs = [sitk.GetImageFromArray(b.view(np.uint8)) for b in bins]
    t_sitk, out = timed(lambda: sitk.STAPLEImageFilter().Execute(imgs), 1)
    p_sitk = sitk.GetArrayViewFromImage(out)

    def ours():
        r = staple(bins)
        return r, r.probability, r.mask

    t_ours, (r, prob, mask) = timed(ours, args.repeat)
    t_mask, _ = timed(lambda: staple(bins).mask, args.repeat)
    diff = float(np.abs(prob - p_sitk).max())
    same = int(((p_sitk >= 0.5) != mask).sum())
    print(f"binary STAPLE   : SimpleITK {t_sitk:7.2f} s | ours {t_ours:6.2f} s (mask only {t_mask:.2f} s) | "
          f"x{t_sitk / t_ours:5.1f} | max |dP| {diff:.1e}, differing mask voxels {same}")
    imgs = out = p_sitk = prob = None

    if not args.skip_multilabel:
        labs = annotators(shape, 5, 4, seed=2)
        limgs = [sitk.GetImageFromArray(a) for a in labs]
        t_sitk, out = timed(lambda: sitk.MultiLabelSTAPLEImageFilter().Execute(limgs), 1)
        l_sitk = sitk.GetArrayViewFromImage(out)
        t_ours, res = timed(lambda: multilabel_staple(labs).labels, args.repeat)
        same = int((l_sitk != res).sum())
        print(f"multi-label STAPLE (4 labels): SimpleITK {t_sitk:7.2f} s | ours {t_ours:6.2f} s | "
              f"x{t_sitk / t_ours:5.1f} | differing voxels {same}")
        limgs = out = None

        segs = {f"annotator{k + 1}": {f"label{lv}": labs[k] == lv for lv in range(1, 5)} for k in range(5)}
        t_tab, tabs = timed(lambda: agreement_tables(segs, spacing_mm=(1.0, 0.8, 0.8)), args.repeat)
        print(f"agreement table 5 annotators x 4 structures (pairwise Dice/IoU/HD95/MSD/surface Dice): "
              f"{t_tab:.2f} s ({len(tabs['pairwise'])} rows)")
        t_tab, tabs = timed(lambda: agreement_tables(segs, spacing_mm=(1.0, 0.8, 0.8), surface=False), args.repeat)
        print(f"agreement table without surface distances (Dice/IoU/kappa): {t_tab:.2f} s ({len(tabs['pairwise'])} rows)")


if __name__ == "__main__":
    main()
