"""Benchmark of body composition at L3 (medlabel.bodycomp). One command:

    .venv/bin/python bench/bench_bodycomp.py

Prints, each with peer time, our time, ratio and accuracy (peers and ours in the same run; the
machine is shared with other jobs, so times vary with its load):

1. Phantom (512x512, 0.8 mm): our areas vs the exact truth.
2. Real CT with a proxy reference (TotalSegmentator tissue_types masks on example_ct_sm, T11-L2,
   30 slices): Dice of our muscle, SAT and torso fat (VAT + IMAT); peer = plain HU thresholding
   inside the body (what a window-only workflow gives, no anatomy).
3. Metrics: SimpleITK LabelStatisticsImageFilter (peer) vs our tissue_metrics on the same masks.
4. One study end to end (DICOM read + labels + metrics + CSV/XLSX/PNG/seg.nrrd) on CRLM-CT-1006.
5. Automatic L3 suggestion vs the TotalSegmentator L3 label (example_ct) and the PROVENANCE estimate (CRLM).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "SlicerMedLabel"))
DATA = Path(os.environ.get("MEDLABEL_DATA", REPO / ".." / "shared" / "data")).resolve()

from medlabel import io  # noqa: E402
from medlabel.bodycomp import label_tissues, run_study, suggest_l3, tissue_metrics  # noqa: E402
from medlabel.phantom import make_l3_phantom  # noqa: E402


def dice(a, b) -> float:
    return float(2 * np.logical_and(a, b).sum() / max(a.sum() + b.sum(), 1))


def timed(fn, repeat=1):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def naive_threshold(image):
    """Peer: HU windows inside the body outline, no anatomy (muscle, all fat)."""
    from scipy import ndimage as ndi

    hu = image.array
    body = np.zeros(hu.shape, bool)
    for k in range(hu.shape[0]):
        b = hu[k] > -190
        lab, n = ndi.label(b)
        if n:
            sizes = np.bincount(lab.ravel())
            sizes[0] = 0
            body[k] = ndi.binary_fill_holes(lab == sizes.argmax())
    muscle = body & (hu >= -29) & (hu <= 150)
    fat = body & (hu >= -190) & (hu <= -30)
    return muscle, fat


def main() -> int:
    print(f"bench_bodycomp on {os.cpu_count()} CPUs (shared with other jobs; load average "
          f"{os.getloadavg()[0]:.1f}): times are indicative, best of repeats")

    # 1 -- phantom ---------------------------------------------------------------------------------
    image, truth = make_l3_phantom()
    t_ours, labels = timed(lambda: label_tissues(image), repeat=3)
    print("\n[1] phantom 512x512 @0.8 mm: labels in", f"{t_ours:.2f} s")
    print(f"    {'tissue':20s} {'truth cm2':>10s} {'ours cm2':>10s} {'error %':>8s} {'Dice':>6s}")
    for name in ("skeletal_muscle", "intermuscular_fat", "visceral_fat", "subcutaneous_fat"):
        t = truth[name].mask.sum() * image.pixel_area_mm2 / 100
        o = labels[name].mask.sum() * image.pixel_area_mm2 / 100
        print(f"    {name:20s} {t:10.2f} {o:10.2f} {100 * (o - t) / t:+8.2f} "
              f"{dice(labels[name].mask, truth[name].mask):6.4f}")

    # 2 -- real CT vs proxy reference --------------------------------------------------------------
    ct = io.read_image(DATA / "totalsegmentator" / "example_ct_sm.nii.gz")
    ref = {n: io.read_image(DATA / f"totalsegmentator/example_seg_tissue_types/{n}.nii.gz").array > 0
           for n in ("skeletal_muscle", "subcutaneous_fat", "torso_fat")}
    t_peer, (p_muscle, p_fat) = timed(lambda: naive_threshold(ct), repeat=3)
    t_ours, lab = timed(lambda: label_tissues(ct), repeat=1)
    ours = {"skeletal_muscle": lab["skeletal_muscle"].mask, "subcutaneous_fat": lab["subcutaneous_fat"].mask,
            "torso_fat": lab["visceral_fat"].mask | lab["intermuscular_fat"].mask}
    peer = {"skeletal_muscle": p_muscle, "subcutaneous_fat": p_fat, "torso_fat": p_fat}
    print("\n[2] example_ct_sm (30 slices, 3 mm, T11-L2) vs TotalSegmentator tissue_types (proxy reference)")
    print(f"    peer (HU windows only) {t_peer:.2f} s, ours {t_ours:.2f} s, ratio ours/peer {t_ours / t_peer:.1f}")
    print(f"    {'tissue':18s} {'Dice peer':>9s} {'Dice ours':>9s} {'min slice ours':>15s} {'area ours/ref':>13s}")
    for n in ref:
        per = [dice(ours[n][k], ref[n][k]) for k in range(ct.shape[0])]
        print(f"    {n:18s} {dice(peer[n], ref[n]):9.3f} {dice(ours[n], ref[n]):9.3f} {min(per):15.3f} "
              f"{ours[n].sum() / ref[n].sum():13.3f}")

    # independent look with TotalSegmentator's `total` labels (v2 ids) on the same scan: how much of
    # each organ our muscle takes, how much of the back muscles and psoas it keeps
    seg = io.read_image(DATA / "totalsegmentator" / "example_seg.nii.gz").array
    parts = {"spinal cord": [79], "kidneys": [2, 3], "spleen": [1], "liver": [5], "back muscles": [86, 87],
             "iliopsoas": [88, 89]}
    frac = {n: (ours["skeletal_muscle"] & np.isin(seg, ids)).sum() / np.isin(seg, ids).sum()
            for n, ids in parts.items()}
    print("    fraction of TotalSegmentator `total` labels inside our muscle: "
          + ", ".join(f"{n} {v:.3f}" for n, v in frac.items()))
    # the HU-window definition: TotalSegmentator's torso fat includes -50..-30 HU, Alberta VAT does not
    wide = label_tissues(ct, preset="fat_190_30")
    tf_wide = wide["visceral_fat"].mask | wide["intermuscular_fat"].mask
    print(f"    torso fat with VAT -190..-30 HU (preset fat_190_30): Dice {dice(tf_wide, ref['torso_fat']):.3f}; "
          f"muscle + IMAT vs reference muscle: Dice "
          f"{dice(ours['skeletal_muscle'] | lab['intermuscular_fat'].mask, ref['skeletal_muscle']):.3f}")

    # 3 -- metrics vs SimpleITK --------------------------------------------------------------------
    import SimpleITK as sitk

    full = io.read_image(DATA / "totalsegmentator" / "example_ct.nii.gz")
    vert = io.read_image(DATA / "totalsegmentator" / "example_seg_fast_force_split.nii.gz")
    lab3 = label_tissues(full, slice_indices=[72])
    names = ["skeletal_muscle", "intermuscular_fat", "visceral_fat", "subcutaneous_fat"]
    lm = np.zeros(full.shape, np.uint8)
    for i, n in enumerate(names, 1):
        lm[lab3[n].mask] = i
    img_s, lm_s = sitk.GetImageFromArray(full.array[72].astype(np.float64)), sitk.GetImageFromArray(lm[72])
    img_s.SetSpacing(full.spacing_xyz[:2])
    lm_s.SetSpacing(full.spacing_xyz[:2])

    def peer_stats():
        f = sitk.LabelStatisticsImageFilter()
        f.Execute(img_s, lm_s)
        return {i: (f.GetCount(i) * full.pixel_area_mm2 / 100, f.GetMean(i), f.GetSigma(i), f.GetMinimum(i),
                    f.GetMaximum(i)) for i in range(1, 5)}

    t_peer, ps = timed(peer_stats, repeat=20)
    t_ours, df = timed(lambda: tissue_metrics(full, lab3, slice_indices=[72]), repeat=20)
    dev = 0.0
    for i, n in enumerate(names, 1):
        r = df.set_index("tissue").loc[n]
        dev = max(dev, abs(r["area_cm2"] - ps[i][0]), abs(r["mean_hu"] - ps[i][1]), abs(r["sd_hu"] - ps[i][2]),
                  abs(r["min_hu"] - ps[i][3]), abs(r["max_hu"] - ps[i][4]))
    print(f"\n[3] metrics on one slice: SimpleITK {1000 * t_peer:.1f} ms, ours {1000 * t_ours:.1f} ms, "
          f"ratio {t_ours / t_peer:.1f}; largest difference {dev:.2e} (cm² or HU) -> recompute after an edit < 1 s")

    # 4 -- one study end to end ---------------------------------------------------------------------
    crlm = DATA / "tcia_crlm" / "CRLM-CT-1006" / "image"
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dcm = io.read_image(crlm)
        t_read = time.perf_counter() - t0
        t1 = time.perf_counter()
        res = run_study(dcm, slice_index=8, out_dir=tmp, force=True)
        t_rest = time.perf_counter() - t1
    print(f"\n[4] one study, CRLM-CT-1006 (51 DICOM slices 512x512): read {t_read:.1f} s + labels/metrics/report "
          f"{t_rest:.1f} s = {t_read + t_rest:.1f} s (target <= 10 s); muscle {res.row['muscle_area_cm2']:.1f} cm²")

    # 5 -- automatic L3 ------------------------------------------------------------------------------
    l3 = np.nonzero((vert.array == 29).any(axis=(1, 2)))[0]
    t_lab, s_lab = timed(lambda: suggest_l3(full, vertebra_labels=vert))
    t_img, s_img = timed(lambda: suggest_l3(full))
    t_c, s_c = timed(lambda: suggest_l3(dcm))
    print(f"\n[5] auto-L3: example_ct L3 label spans k={l3.min()}..{l3.max()}; from labels k={s_lab.index} "
          f"({t_lab:.2f} s, confidence {s_lab.confidence}); from the image k={s_img.index} ({t_img:.2f} s, "
          f"confidence {s_img.confidence}); CRLM (estimate k=6..12) from the image k={s_c.index} "
          f"(confidence {s_c.confidence})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
