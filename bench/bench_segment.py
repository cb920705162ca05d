"""Benchmark of medlabel.segment (GrabCut, back projection) against OpenCV grabCut and Slicer's Grow from seeds.

One command, from the repository root:

    .venv/bin/python bench/bench_segment.py            # all sets, accuracy + speed
    .venv/bin/python bench/bench_segment.py --quick    # every 3rd slice, fewer repeats

Protocol (issue 8), per slice of each reference set that holds reference voxels:
  A: a box around the reference with a 5-pixel margin (2 on PET);
  B: the same box + one foreground stroke (the reference eroded by 1/8 of the box's smaller side,
     in pixels); the box border is background.
Peers in the same run: OpenCV grabCut (5 iterations; rectangle init for A, mask init for B) and
Slicer's Grow from seeds (vtkImageGrowCutSegment from slicer-core) for B.
The machine is shared (2 cores, several developers): timings are medians of repeats under that load.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from benchcommon import DATA, median_time  # puts SlicerMedLabel/ on sys.path
from scipy import ndimage as ndi

from medlabel.image import Image
from medlabel.segment import Box, back_project, dice, grabcut


# ---------------------------------------------------------------------------------------------- data
def _read(path: Path):
    import SimpleITK as sitk

    if path.is_dir():
        r = sitk.ImageSeriesReader()
        r.SetFileNames(r.GetGDCMSeriesFileNames(str(path)))
        return Image.from_sitk(r.Execute())
    return Image.from_sitk(sitk.ReadImage(str(path)))


def load_sets() -> dict[str, dict]:
    """name -> {image (Z,Y,X) float32, ref (Z,Y,X) bool, spacing_mm, margin_px}."""
    sets = {}
    ct = _read(DATA / "lidc_idri_0314" / "image")
    readers = [_read(DATA / "lidc_idri_0314" / f"reader{i}.nii.gz").array > 0 for i in range(1, 5)]
    sets["nodule (LIDC-0314)"] = dict(image=ct.array.astype(np.float32), ref=np.sum(readers, 0) >= 2,
                                      spacing_mm=ct.spacing_mm, margin_px=5)
    for mod, margin in (("CT", 5), ("PET", 2)):
        im = _read(DATA / "tcia_sts" / "STS_001" / mod / "nifti" / "image" / "image.nii.gz")
        mk = _read(DATA / "tcia_sts" / "STS_001" / mod / "nifti" / "mask" / "mask.nii.gz")
        sets[f"sarcoma {mod} (STS_001)"] = dict(image=im.array.astype(np.float32), ref=mk.array > 0,
                                                spacing_mm=im.spacing_mm, margin_px=margin)
    try:  # the body-composition phantom (synthetic L3 CT with exact masks): the vertebra is the object
        from medlabel.phantom import make_l3_phantom
    except ImportError:
        return sets
    image, truth = make_l3_phantom((3, 512, 512), (3.0, 0.8, 0.8), noise_hu=10.0)
    sets["phantom vertebra (L3)"] = dict(image=image.array.astype(np.float32), ref=truth["vertebra"].mask,
                                         spacing_mm=image.spacing_mm, margin_px=5)
    return sets


def slice_tasks(s: dict, step: int = 1):
    """Yield (k, slice image, reference slice, Box (one slice, 2-D), stroke mask) per reference slice."""
    ref = s["ref"]
    m = s["margin_px"]
    ks = np.nonzero(ref.any(axis=(1, 2)))[0][::step]
    for k in ks:
        r2 = ref[k]
        b = Box.of_mask(r2[None], margin_vox=(0, m, m), shape=(1, *r2.shape))
        side = min(b.y1 - b.y0, b.x1 - b.x0)
        er = max(1, int(side // 8))
        stroke = ndi.binary_erosion(r2, np.ones((3, 3), bool), iterations=er)
        if not stroke.any():  # tiny reference: keep its centre pixel
            stroke = np.zeros_like(r2)
            cy, cx = (int(round(c)) for c in ndi.center_of_mass(r2))
            stroke[cy, cx] = r2[cy, cx] or True
        yield int(k), s["image"][k], r2, b, stroke


def box_border(b: Box, shape2d) -> np.ndarray:
    m = np.zeros(shape2d, bool)
    m[b.y0:b.y1, b.x0:b.x1] = True
    inner = np.zeros(shape2d, bool)
    inner[b.y0 + 1:b.y1 - 1, b.x0 + 1:b.x1 - 1] = True
    return m & ~inner


# ---------------------------------------------------------------------------------------------- methods
def ours_a(img, b, sp, **kw):
    return grabcut(img, Box(0, 1, b.y0, b.y1, b.x0, b.x1), spacing_mm=sp[1:], **kw)


def ours_a_no_priors(img, b, sp, **kw):
    """The defaults before the intensity-order prior and the automatic star shape (for comparison)."""
    return ours_a(img, b, sp, intensity_order="none", star_shape=False, **kw)


def ours_a_star(img, b, sp, **kw):
    return ours_a(img, b, sp, star_shape=True, **kw)


def box_only(img, b):
    """The box itself as the answer: what any method must beat to have used the intensities."""
    return Box(0, 1, b.y0, b.y1, b.x0, b.x1).to_mask((1, *img.shape))[0]


def ours_b(img, b, sp, stroke, **kw):
    bg = ~Box(0, 1, b.y0, b.y1, b.x0, b.x1).to_mask((1, *img.shape))[0] | box_border(b, img.shape)
    return grabcut(img, Box(0, 1, b.y0, b.y1, b.x0, b.x1), spacing_mm=sp[1:], fg_seeds=stroke,
                   bg_seeds=box_border(b, img.shape), **kw) & ~bg


def _to8(img):
    lo, hi = np.percentile(img, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1
    u8 = np.clip((img - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(u8[..., None], 3, axis=2))


def opencv_a(img, b):
    import cv2
    mask = np.zeros(img.shape, np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    rect = (b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0)
    cv2.setRNGSeed(0)
    cv2.grabCut(_to8(img), mask, rect, bgd, fgd, 5, cv2.GC_INIT_WITH_RECT)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


def opencv_b(img, b, stroke):
    import cv2
    mask = np.full(img.shape, cv2.GC_BGD, np.uint8)
    mask[b.y0:b.y1, b.x0:b.x1] = cv2.GC_PR_FGD
    mask[box_border(b, img.shape)] = cv2.GC_BGD
    mask[stroke] = cv2.GC_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(_to8(img), mask, None, bgd, fgd, 5, cv2.GC_INIT_WITH_MASK)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


def growcut_b(img, b, stroke, sp):
    """Slicer's Grow from seeds on the slice: seeds 1 = stroke, 2 = box border and outside."""
    import slicer
    import vtk
    from vtk.util import numpy_support as ns

    def vol(a, vtktype):  # the filter needs >= 3 voxels per axis: the slice is stacked 3 times (2-D result)
        a3 = np.ascontiguousarray(np.repeat(a[None], 3, axis=0))
        d = vtk.vtkImageData()
        d.SetDimensions(a.shape[1], a.shape[0], 3)
        d.SetSpacing(sp[2], sp[1], 1000.0)
        d.GetPointData().SetScalars(ns.numpy_to_vtk(a3.ravel(), deep=True, array_type=vtktype))
        return d

    seeds = np.zeros(img.shape, np.uint8)
    outside = ~Box(0, 1, b.y0, b.y1, b.x0, b.x1).to_mask((1, *img.shape))[0]
    seeds[outside | box_border(b, img.shape)] = 2
    seeds[stroke] = 1
    f = slicer.vtkImageGrowCutSegment()
    f.SetIntensityVolume(vol(img.astype(np.float32), vtk.VTK_FLOAT))
    f.SetSeedLabelVolume(vol(seeds, vtk.VTK_UNSIGNED_CHAR))
    f.SetDistancePenalty(0.0)
    f.Update()
    out = ns.vtk_to_numpy(f.GetOutput().GetPointData().GetScalars()).reshape((3, *img.shape))[1]
    return out == 1


def timed(fn, *a, repeat=1, **kw):
    """(result, median seconds) of ``fn(*a, **kw)`` over ``repeat`` calls."""
    t, r = median_time(lambda: fn(*a, **kw), repeat)
    return r, t


# ---------------------------------------------------------------------------------------------- runs
def accuracy(sets, step=1, kw=None):
    kw = kw or {}
    rows = []
    for name, s in sets.items():
        d = {k: [] for k in ("box only", "ours A", "ours A no priors", "ours A star", "opencv A", "ours B", "opencv B",
                             "growcut B")}
        t = {k: [] for k in d}
        sp = s["spacing_mm"]
        for _k, img, ref, b, stroke in slice_tasks(s, step):
            for key, fn, args in (("box only", box_only, (img, b)), ("ours A", ours_a, (img, b, sp)),
                                  ("ours A no priors", ours_a_no_priors, (img, b, sp)),
                                  ("ours A star", ours_a_star, (img, b, sp)), ("opencv A", opencv_a, (img, b)),
                                  ("ours B", ours_b, (img, b, sp, stroke)),
                                  ("opencv B", opencv_b, (img, b, stroke)),
                                  ("growcut B", growcut_b, (img, b, stroke, sp))):
                extra = kw if key.startswith("ours") else {}
                m, dt = timed(fn, *args, **extra)
                d[key].append(dice(m, ref))
                t[key].append(dt)
        rows.append((name, len(d["ours A"]), {k: float(np.mean(v)) for k, v in d.items()},
                     {k: float(np.median(v)) * 1000 for k, v in t.items()},
                     {k: float(np.median(v)) for k, v in d.items()}))
    return rows


def print_accuracy(rows):
    keys = ["box only", "ours A", "ours A no priors", "ours A star", "opencv A", "ours B", "opencv B", "growcut B"]
    print("\n## GrabCut accuracy: mean Dice per slice (median Dice)\n")
    print("| set | slices | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for name, n, d, _t, med in rows:
        print(f"| {name} | {n} | " + " | ".join(f"{d[k]:.3f} ({med[k]:.2f})" for k in keys) + " |")
    print("\n## GrabCut time per slice: median ms (same runs)\n")
    keys_t = [k for k in keys if k != "box only"]
    print("| set | " + " | ".join(keys_t) + " |")
    print("|---|" + "---|" * len(keys_t))
    for name, _n, _d, t, _m in rows:
        print(f"| {name} | " + " | ".join(f"{t[k]:.1f}" for k in keys_t) + " |")


def pet_reference_bounds(sets):
    """How close to the STS_001 PET reference can a PET-driven box-only result get? Two checks:

    * the PET GTV against the CT GTV resampled onto the PET grid (linear, >= 0.5): if they agree, the
      PET contour is the CT (or MR) contour carried over, not drawn on the PET uptake;
    * the reference against itself grown / shrunk by one PET pixel (4-neighbourhood): the mean Dice per
      slice that a boundary error of one 4.7 mm pixel costs on these small slices;
    * two oracles that *know the reference* (upper bounds for methods that follow the uptake): per slice,
      the best global SUV threshold inside interaction A's box (holes filled, largest piece kept), and
      the same followed by the convex hull of that piece (the most a compactness prior could add).
    """
    import SimpleITK as sitk

    d = DATA / "tcia_sts" / "STS_001"
    pm = sitk.ReadImage(str(d / "PET" / "nifti" / "mask" / "mask.nii.gz"))
    cm = sitk.Cast(sitk.ReadImage(str(d / "CT" / "nifti" / "mask" / "mask.nii.gz")) > 0, sitk.sitkFloat32)
    ct_on_pet = sitk.GetArrayFromImage(sitk.Resample(cm, pm, sitk.Transform(), sitk.sitkLinear, 0.0)) >= 0.5
    pet = sitk.GetArrayFromImage(pm) > 0
    ks = np.nonzero(pet.any(axis=(1, 2)))[0]
    cross = ndi.generate_binary_structure(2, 1)
    same = np.mean([dice(ct_on_pet[k], pet[k]) for k in ks])
    grown = np.mean([dice(ndi.binary_dilation(pet[k], cross), pet[k]) for k in ks])
    shrunk = np.mean([dice(ndi.binary_erosion(pet[k], cross), pet[k]) for k in ks])
    print("\n## STS_001 PET reference: how much a PET-driven result can agree with it (mean Dice per slice)\n")
    print("| check | mean Dice per slice |")
    print("|---|---|")
    print(f"| CT GTV resampled onto the PET grid vs the PET GTV | {same:.3f} |")
    print(f"| PET GTV grown by one pixel (4.7 mm) vs itself | {grown:.3f} |")
    print(f"| PET GTV shrunk by one pixel vs itself | {shrunk:.3f} |")
    thr, hull = _pet_oracles(sets["sarcoma PET (STS_001)"])
    print(f"| oracle: best SUV threshold per slice, knowing the reference | {thr:.3f} |")
    print(f"| oracle: best threshold + convex hull per slice, knowing the reference | {hull:.3f} |")


def _pet_oracles(s: dict) -> tuple[float, float]:
    """Mean Dice per slice of the two reference-aware oracles of :func:`pet_reference_bounds`."""
    from skimage.morphology import convex_hull_image

    best_thr, best_hull = [], []
    for _k, img, ref, b, _stroke in slice_tasks(s):
        sub, r = img[b.y0:b.y1, b.x0:b.x1].astype(float), ref[b.y0:b.y1, b.x0:b.x1]
        bt = bh = 0.0
        for t in np.unique(np.quantile(sub, np.linspace(0.02, 0.98, 60))):
            lab, n = ndi.label(ndi.binary_fill_holes(sub > t))
            if n == 0:
                continue
            piece = lab == 1 + int(np.argmax(np.bincount(lab.ravel())[1:]))
            bt, bh = max(bt, dice(piece, r)), max(bh, dice(convex_hull_image(piece), r))
        best_thr.append(bt)
        best_hull.append(bh)
    return float(np.mean(best_thr)), float(np.mean(best_hull))


def speed_2d(sets, repeat=5):
    """512x512 slice (the nodule CT) with the nodule's box: ours vs OpenCV, same slice and box."""
    s = sets["nodule (LIDC-0314)"]
    tasks = list(slice_tasks(s))
    _k, img, ref, b, stroke = tasks[len(tasks) // 2]
    _, t_ours = timed(ours_a, img, b, s["spacing_mm"], repeat=repeat)
    _, t_cv = timed(opencv_a, img, b, repeat=repeat)
    big = Box(0, 1, 128, 384, 128, 384)
    _, t_ours_big = timed(ours_a, img, big, s["spacing_mm"], repeat=max(1, repeat // 2))
    _, t_cv_big = timed(opencv_a, img, big, repeat=max(1, repeat // 2))
    print("\n## GrabCut 2-D speed on a 512x512 slice (median of repeats, loaded 2-core machine)\n")
    print("| box | OpenCV ms | ours ms | OpenCV / ours |")
    print("|---|---|---|---|")
    print(f"| nodule box {b.y1 - b.y0}x{b.x1 - b.x0} px | {t_cv * 1e3:.1f} | {t_ours * 1e3:.1f} | {t_cv / t_ours:.1f}x |")
    print(f"| 256x256 px | {t_cv_big * 1e3:.1f} | {t_ours_big * 1e3:.1f} | {t_cv_big / t_ours_big:.1f}x |")


def speed_3d():
    """3-D GrabCut on a 128x256x256 box of a synthetic CT-like volume (ellipsoid + noise), Dice vs truth."""
    rng = np.random.default_rng(0)
    shape = (160, 300, 300)
    z, y, x = np.ogrid[:shape[0], :shape[1], :shape[2]]
    truth = ((z - 80) / 50.0) ** 2 + ((y - 150) / 100.0) ** 2 + ((x - 150) / 90.0) ** 2 < 1
    img = np.where(truth, 40.0, -80.0) + rng.normal(0, 25, shape)
    img = img.astype(np.float32)
    b = Box(16, 144, 22, 278, 22, 278)
    m, t = timed(grabcut, img, b, spacing_mm=(1.0, 0.8, 0.8))
    print("\n## GrabCut 3-D speed (synthetic ellipsoid, box 128x256x256 voxels)\n")
    print(f"ours: {t:.2f} s, Dice vs truth {dice(m, truth):.3f}")


def real_3d(sets):
    """3-D GrabCut on the LIDC nodule: its bounding box, and the box grown by 2 pixels in-plane."""
    s = sets["nodule (LIDC-0314)"]
    print("\n## GrabCut 3-D on the real nodule (LIDC-0314, 1 mm slices, 0.78 mm pixels)\n")
    print("| box | voxels in box | ours Dice | ours s | ours + star Dice |")
    print("|---|---|---|---|---|")
    for margin in ((0, 0, 0), (0, 2, 2)):
        b = Box.of_mask(s["ref"], margin_vox=margin)
        m, t = timed(grabcut, s["image"], b, spacing_mm=s["spacing_mm"])
        ms = grabcut(s["image"], b, spacing_mm=s["spacing_mm"], star_shape=True)
        print(f"| bounding box + {margin} voxels | {int(np.prod(b.shape))} | {dice(m, s['ref']):.3f} | {t:.2f} | "
              f"{dice(ms, s['ref']):.3f} |")


def speed_backprojection(sets, repeat=5):
    s = sets["nodule (LIDC-0314)"]
    ct = np.round(s["image"]).astype(np.int16)
    slice_img = ct[len(ct) // 2]
    roi = Box.rect(0, 240, 272, 100, 132)
    _, t1 = timed(back_project, slice_img, roi, spacing_mm=s["spacing_mm"], scope="slice", repeat=repeat)
    vol = np.concatenate([ct] * 11)[:300]  # 512x512x300 of real CT slices
    roi3 = Box.rect(150, 240, 272, 100, 132)
    r, t2 = timed(back_project, vol, roi3, spacing_mm=s["spacing_mm"], scope="volume", repeat=3)
    t_like = time.perf_counter()
    like = r.likelihood
    t_like = time.perf_counter() - t_like
    t_ref = time.perf_counter()
    ref, ref_like = reference_back_projection(vol, roi3, r.histogram.edges, threshold=0.1)
    t_ref = time.perf_counter() - t_ref
    same = bool(np.array_equal(ref, r.mask))
    same_like = float(np.abs(ref_like - like).max())
    print("\n## Back projection speed (int16 CT, 64 bins, threshold 0.1)\n")
    print("| case | reference implementation ms | ours ms | ratio | masks identical | max likelihood diff |")
    print("|---|---|---|---|---|---|")
    print(f"| one 512x512 slice (mask) | - | {t1 * 1e3:.1f} | - | - | - |")
    print(f"| 512x512x300 volume (mask) | {t_ref * 1e3:.0f} | {t2 * 1e3:.0f} | {t_ref / t2:.0f}x | {same} | - |")
    print(f"| + likelihood map of the volume | - | {t_like * 1e3:.0f} | - | - | {same_like:.1e} |")


def reference_back_projection(vol, roi: Box, edges, threshold):
    """Straightforward implementation: np.histogram of the ROI, np.digitize of every voxel."""
    vals = vol[roi.slices].astype(np.float64).ravel()
    counts, _ = np.histogram(vals, bins=edges)
    like = counts / counts.max()
    v = vol.astype(np.float64)
    idx = np.digitize(v, edges) - 1
    idx[v == edges[-1]] = len(counts) - 1
    ok = (idx >= 0) & (idx < len(counts))
    lk = np.zeros(vol.shape, np.float32)
    lk[ok] = like[idx[ok]]
    return lk >= threshold, lk


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="every 3rd slice, fewer repeats")
    ap.add_argument("--only", choices=["accuracy", "speed"], help="run one part")
    args = ap.parse_args(argv)
    import os
    print(f"# bench_segment  ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}: shared machine)")
    sets = load_sets()
    if args.only in (None, "accuracy"):
        print_accuracy(accuracy(sets, step=3 if args.quick else 1))
        pet_reference_bounds(sets)
    if args.only in (None, "speed"):
        speed_2d(sets, repeat=3 if args.quick else 7)
        speed_3d()
        real_3d(sets)
        speed_backprojection(sets, repeat=3 if args.quick else 7)


if __name__ == "__main__":
    main()
