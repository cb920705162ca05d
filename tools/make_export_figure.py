"""Make docs/images/export_coco.png from a real export, drawn only from what the export wrote.

Run from the repository root:  .venv/bin/python tools/make_export_figure.py
(needs ../shared/data; exports into a temporary folder; writes docs/images/export_coco.png,
overwriting it, and prints the numbers quoted in the README).

Left: LIDC-IDRI-0314, the exported PNG of the slice with the largest nodule area, zoomed on the
nodule, with the COCO polygons and boxes of the four readers as read back from dataset.json.
Middle: dcmqi abdominal CT, the exported PNG (soft-tissue window) with the liver polygon and box.
Right: the liver DICOM SEG written by the export, read back onto the de-identified series, overlaid
on the same slice (it must coincide with the polygon).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "SlicerMedLabel"))
DATA = (REPO / ".." / "shared" / "data").resolve()

from medlabel.dataset import ExportCase, export_dataset, summarize  # noqa: E402
from medlabel.dicom_seg import read_dicom_seg  # noqa: E402
from medlabel.io import read_image  # noqa: E402

COLORS = {"reader1": "#ff4d4d", "reader2": "#4dd2ff", "reader3": "#ffd24d", "reader4": "#7dff4d", None: "#ff4dff"}


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon, Rectangle
    from PIL import Image as PILImage

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ds"
        lidc = DATA / "lidc_idri_0314"
        cases = [
            ExportCase(lidc / "image", [lidc / f"reader{i}.nii.gz" for i in range(1, 5)],
                       annotators=[f"reader{i}" for i in range(1, 5)], names={1: "nodule"}, window="lung"),
            ExportCase(DATA / "dcmqi" / "ct-3slice", [DATA / "dcmqi" / "liver_seg.nrrd"], names={1: "liver"}),
        ]
        res = export_dataset(cases, out, deidentify=True, salt="figure", window="auto")
        data = json.loads((out / "dataset.json").read_text())
        print(f"{res.n_images} slices, {res.n_annotations} annotations, masks {len(res.files['masks'])}, "
              f"de-identified files {len(res.files['dicom'])}")
        print(summarize(res.qa))
        images = {im["id"]: im for im in data["images"]}
        cats = {c["id"]: c for c in data["categories"]}
        by_image: dict[int, list] = {}
        for a in data["annotations"]:
            by_image.setdefault(a["image_id"], []).append(a)

        nodule_id = next(c["id"] for c in data["categories"] if c["name"] == "nodule")
        best = max((i for i in by_image if any(a["category_id"] == nodule_id for a in by_image[i])),
                   key=lambda i: sum(a["area_px"] for a in by_image[i]))
        liver_img = next(im for im in data["images"] if im["modality"] == "CT" and
                         any(cats[a["category_id"]]["name"] == "liver" for a in by_image.get(im["id"], [])))

        fig, axes = plt.subplots(1, 3, figsize=(15, 5.8))
        # 1. LIDC readers
        im = images[best]
        ax = axes[0]
        ax.imshow(np.asarray(PILImage.open(out / im["file_name"])), cmap="gray", vmin=0, vmax=255)
        boxes = np.array([a["bbox_xyxy"] for a in by_image[best]])
        x1, y1 = boxes[:, :2].min(axis=0) - 25
        x2, y2 = boxes[:, 2:].max(axis=0) + 25
        for a in by_image[best]:
            color = COLORS.get(a["annotator"], "w")
            for poly in a["segmentation"]:
                ax.add_patch(Polygon(np.reshape(poly, (-1, 2)), closed=True, fill=False, ec=color, lw=1.6))
            x, y, w, h = a["bbox"]
            ax.add_patch(Rectangle((x, y), w, h, fill=False, ec=color, lw=0.8, ls="--"))
            ax.plot([], [], color=color, label=f"{a['annotator']}: {a['area_mm2']:.0f} mm²")
        ax.set_xlim(x1, x2)
        ax.set_ylim(y2, y1)
        ax.legend(loc="lower left", fontsize=8, framealpha=0.7)
        ax.set_title(f"LIDC-IDRI-0314, slice {im['slice_index']} (PNG in lung window {im['window_hu']} HU)\n"
                     "4 readers: COCO polygons (solid) and boxes (dashed)", fontsize=9)
        # 2. liver polygon
        ax = axes[1]
        png = np.asarray(PILImage.open(out / liver_img["file_name"]))
        ax.imshow(png, cmap="gray", vmin=0, vmax=255)
        for a in by_image[liver_img["id"]]:
            for poly in a["segmentation"]:
                ax.add_patch(Polygon(np.reshape(poly, (-1, 2)), closed=True, fill=False, ec="#ff4dff", lw=1.2))
            x, y, w, h = a["bbox"]
            ax.add_patch(Rectangle((x, y), w, h, fill=False, ec="#ffd24d", lw=1.0, ls="--"))
            area = a["area_mm2"]
        ax.set_title(f"dcmqi CT slice {liver_img['slice_index']}: liver polygon + bbox\n"
                     f"area {area / 100:.1f} cm², patient {liver_img['patient_id']}", fontsize=9)
        # 3. DICOM SEG read back on the de-identified series
        ax = axes[2]
        seg_rel = next(m for m in res.files["masks"] if m.endswith("liver.dcm"))
        case_dir = out / "dicom" / Path(seg_rel).parent.name
        deid = read_image(case_dir)
        mask = read_dicom_seg(out / seg_rel, reference=deid).segments[0].mask[liver_img["slice_index"]]
        ax.imshow(png, cmap="gray", vmin=0, vmax=255)
        ax.imshow(np.ma.masked_where(~mask, mask), cmap="autumn", alpha=0.45)
        for a in by_image[liver_img["id"]]:
            for poly in a["segmentation"]:
                ax.add_patch(Polygon(np.reshape(poly, (-1, 2)), closed=True, fill=False, ec="#4dd2ff", lw=0.8))
        ax.set_title("liver DICOM SEG written by the export, read back on the\n"
                     "de-identified series (orange) with the COCO polygon (blue)", fontsize=9)
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        fig.tight_layout(rect=(0, 0, 1, 0.97))
        target = REPO / "docs" / "images" / "export_coco.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(target, dpi=110)
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
