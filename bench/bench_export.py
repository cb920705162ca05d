"""Benchmark medlabel.dataset against peers, in one run on the same data.

    .venv/bin/python bench/bench_export.py

1. Mask slice → polygons → mask, on every labelled slice of real masks (LIDC-IDRI-0314 readers 1-4,
   STS_001 GTV, dcmqi liver) and the phantom's tissues: OpenCV ``findContours`` (RETR_CCOMP,
   CHAIN_APPROX_NONE) + ``drawContours`` filled with its hole hierarchy vs ours
   (skimage ``find_contours`` + even-odd ``polygon2mask``). Accuracy: pixels that differ after the
   round trip, and |polygon area − pixel count| / pixel count (what a COCO reader computing area from
   the polygon would see).
2. De-identification of the 29-file LIDC series: plain pydicom read + write (the floor: no changes)
   vs ``deidentify_files``. No de-identification package is installed to compare with.
3. The whole ``export_dataset`` on LIDC (4 readers, de-identified, SEG per reader): our time only.

Median of 3 runs; the machine is shared (2 cores, several developers), so the CPU is loaded by
others and absolute times vary: compare ratios.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from benchcommon import DATA  # first: puts SlicerMedLabel/ on sys.path
from benchcommon import median_time as timed


def row(name, peer_s, ours_s, acc):
    ratio = f"{peer_s / ours_s:.2f}" if peer_s else "–"
    peer = f"{peer_s:.3f}" if peer_s else "–"
    print(f"| {name} | {peer} | {ours_s:.3f} | {ratio} | {acc} |")


def shoelace(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def main() -> None:
    import cv2
    import pydicom

    from medlabel.dataset import ExportCase, Pseudonymizer, deidentify_files, export_dataset
    from medlabel.dataset.coco import mask_to_polygons, polygons_to_mask
    from medlabel.io import read_segmentation
    from medlabel.phantom import make_l3_phantom

    slices = []
    for rel in ["lidc_idri_0314/reader1.nii.gz", "lidc_idri_0314/reader2.nii.gz", "lidc_idri_0314/reader3.nii.gz",
                "lidc_idri_0314/reader4.nii.gz", "tcia_sts/STS_001/CT/nifti/mask/mask.nii.gz",
                "dcmqi/liver_seg.nrrd"]:
        m = read_segmentation(DATA / rel).segments[0].mask
        slices += [m[k] for k in np.flatnonzero(m.any(axis=(1, 2)))]
    _, truth = make_l3_phantom((1, 512, 512), (3.0, 0.8, 0.8))
    slices += [s.mask[0] for s in truth]
    n_px = sum(int(s.sum()) for s in slices)
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}")
    print(f"{len(slices)} mask slices, {n_px} foreground pixels")
    print("| operation | peer s | ours s | peer/ours | accuracy |\n|---|---:|---:|---:|---|")

    def peer_round_trip():
        bad = area_err = 0.0
        for m in slices:
            contours, hier = cv2.findContours(m.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
            back = np.zeros(m.shape, np.uint8)
            # filled with the hierarchy (holes cut out), then the traced boundary pixels put back: OpenCV
            # contours run through the centres of the object's own boundary pixels, holes included
            cv2.drawContours(back, contours, -1, 1, thickness=cv2.FILLED, hierarchy=hier)
            cv2.drawContours(back, contours, -1, 1, thickness=1)
            bad += np.count_nonzero(back.astype(bool) != m)
            area = sum(shoelace(c[:, 0, :].astype(float)) * (1 if hier[0][i][3] < 0 else -1)
                       for i, c in enumerate(contours))
            area_err += abs(area - m.sum())
        return bad, area_err

    def ours_round_trip():
        bad = area_err = 0.0
        for m in slices:
            outer, holes = mask_to_polygons(m)
            back = polygons_to_mask(outer, m.shape, holes)
            bad += np.count_nonzero(back != m)
            area = sum(shoelace(np.asarray(p).reshape(-1, 2)) for p in outer) - \
                sum(shoelace(np.asarray(p).reshape(-1, 2)) for p in holes)
            area_err += abs(area - m.sum())
        return bad, area_err

    t_peer, (bad_p, area_p) = timed(peer_round_trip)
    t_ours, (bad_o, area_o) = timed(ours_round_trip)
    row(f"mask → polygons → mask, {len(slices)} slices", t_peer, t_ours,
        f"pixels differing: peer {int(bad_p)}, ours {int(bad_o)} (of {n_px}); polygon-area error: peer "
        f"{100 * area_p / n_px:.2f} %, ours {100 * area_o / n_px:.3f} %")

    files = sorted((DATA / "lidc_idri_0314" / "image").glob("*.dcm"))
    with tempfile.TemporaryDirectory() as tmp:
        def peer_copy():
            out = Path(tmp) / f"copy{time.perf_counter_ns()}"
            out.mkdir()
            for f in files:
                pydicom.dcmread(f).save_as(out / f.name)

        def ours_deid():
            deidentify_files(files, Path(tmp) / f"deid{time.perf_counter_ns()}", Pseudonymizer("bench"))

        t_peer, _ = timed(peer_copy)
        t_ours, _ = timed(ours_deid)
        row(f"de-identify {len(files)} CT files (peer: pydicom read+write, no changes)", t_peer, t_ours,
            "see tests: no original id/UID left, same pixels")

        readers = [DATA / "lidc_idri_0314" / f"reader{i}.nii.gz" for i in range(1, 5)]
        case = ExportCase(DATA / "lidc_idri_0314" / "image", readers, annotators=["r1", "r2", "r3", "r4"],
                          names={1: "nodule"})
        t_ours, res = timed(lambda: export_dataset([case], Path(tmp) / f"ds{time.perf_counter_ns()}",
                                                   deidentify=True, salt="b"), runs=1)
        row("export_dataset LIDC: 4 readers, de-identified, 4 SEGs", 0.0, t_ours,
            f"{res.n_images} slices, {res.n_annotations} annotations, QA "
            f"{'passed' if res.qa_passed else 'FAILED'}")


if __name__ == "__main__":
    main()
