"""QA of an exported data set: every expected file exists and reads, references resolve, no empty
masks, categories consistent, no patient in two splits.

:func:`check_export` returns one row per check (``check``, ``item``, ``status`` ok/warn/fail,
``detail``); :func:`summarize` turns it into the short text the CLI prints.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

from .coco import validate_coco


def check_export(out_dir: str | os.PathLike):
    """Check an export folder written by :func:`medlabel.dataset.export.export_dataset`.

    Checks
    ------
    * ``dataset.json`` and each split JSON exist, parse, and pass :func:`validate_coco`;
    * every image file exists, opens as an 8-bit PNG and has the width/height of its entry;
    * every annotation's image exists and every annotation has pixels (area > 0, a polygon);
    * categories: unique names, one id per name, identical lists in every split file, and every
      category is used by at least one annotation (warn otherwise);
    * every DICOM SEG and de-identified DICOM file listed in ``medlabel.files`` exists and reads;
      each SEG has at least one frame;
    * no patient appears in two splits; split files together hold exactly the images of
      ``dataset.json``;
    * files in ``images/``, ``masks/``, ``dicom/`` that ``dataset.json`` does not list (warn).

    Returns
    -------
    pandas.DataFrame
        Columns ``check, item, status, detail``; a "fail" row means the export is not usable as is.
    """
    import pandas as pd

    out = Path(out_dir)
    rows: list[dict] = []

    def add(check: str, item: str, ok: bool | str, detail: str = "") -> None:
        status = ok if isinstance(ok, str) else ("ok" if ok else "fail")
        rows.append({"check": check, "item": item, "status": status, "detail": detail})

    data = _read_json(out / "dataset.json", add)
    if data is None:
        return pd.DataFrame(rows, columns=["check", "item", "status", "detail"])
    problems = validate_coco(data)
    add("coco_format", "dataset.json", not problems, "; ".join(problems[:10]))

    # image files
    from PIL import Image as PILImage

    for im in data.get("images", []):
        path = out / im["file_name"]
        if not path.exists():
            add("image_file", im["file_name"], False, "missing")
            continue
        try:
            with PILImage.open(path) as pic:
                pic.load()
                size, mode = pic.size, pic.mode
        except Exception as exc:  # PIL raises several types for broken files
            add("image_file", im["file_name"], False, f"unreadable ({type(exc).__name__}: {exc})")
            continue
        ok = size == (im["width"], im["height"]) and mode == "L"
        add("image_file", im["file_name"], ok, "" if ok else f"size {size} mode {mode}, expected "
            f"({im['width']}, {im['height']}) 8-bit grayscale")

    # annotations
    image_ids = {im["id"] for im in data.get("images", [])}
    empty = [a["id"] for a in data.get("annotations", []) if a.get("area", 0) <= 0 or not a.get("segmentation")]
    add("empty_masks", "annotations", not empty, f"annotation ids {empty[:10]}" if empty else
        f"{len(data.get('annotations', []))} annotations, all non-empty")
    orphans = [a["id"] for a in data.get("annotations", []) if a.get("image_id") not in image_ids]
    add("annotation_images", "annotations", not orphans, f"annotation ids {orphans[:10]} refer to missing images"
        if orphans else "every annotation's image exists")

    # categories
    cats = data.get("categories", [])
    names = [c["name"] for c in cats]
    dup = sorted({n for n in names if names.count(n) > 1})
    add("categories_unique", "dataset.json", not dup, f"repeated names {dup}" if dup else f"{len(cats)} categories")
    used = {a.get("category_id") for a in data.get("annotations", [])}
    unused = [c["name"] for c in cats if c["id"] not in used]
    add("categories_used", "dataset.json", "warn" if unused else "ok",
        f"no annotation for {unused}" if unused else "every category is used")

    # splits
    med = data.get("medlabel", {})
    split_names = list(med.get("split_ratios", {}))
    patient_splits: dict[str, set] = defaultdict(set)
    for im in data.get("images", []):
        patient_splits[im.get("patient_id")].add(im.get("split"))
    crossing = {p: sorted(s) for p, s in patient_splits.items() if len(s) > 1}
    add("patient_in_one_split", "dataset.json", not crossing,
        f"patients in several splits: {crossing}" if crossing else f"{len(patient_splits)} patients")
    seen_ids: list[int] = []
    for name in split_names:
        part = _read_json(out / f"{name}.json", add)
        if part is None:
            continue
        problems = validate_coco(part)
        add("coco_format", f"{name}.json", not problems, "; ".join(problems[:10]))
        add("categories_consistent", f"{name}.json", part.get("categories") == cats,
            "" if part.get("categories") == cats else "categories differ from dataset.json")
        wrong = [im["id"] for im in part.get("images", []) if im.get("split") != name]
        add("split_membership", f"{name}.json", not wrong, f"images {wrong[:10]} belong to another split" if wrong else
            f"{len(part.get('images', []))} images")
        seen_ids += [im["id"] for im in part.get("images", [])]
    if split_names:
        ok = sorted(seen_ids) == sorted(image_ids)
        add("split_cover", "split files", ok, "" if ok else
            f"split files hold {len(seen_ids)} image entries, dataset.json {len(image_ids)}")

    # DICOM outputs
    files = med.get("files", {})
    for rel in files.get("masks", []):
        _check_dicom(out / rel, rel, "dicom_seg", add, need_frames=True)
    for rel in files.get("dicom", []):
        _check_dicom(out / rel, rel, "dicom_deidentified", add, need_frames=False)
    listed = {im["file_name"] for im in data.get("images", [])} | set(files.get("masks", [])) | \
        set(files.get("dicom", []))
    extra = sorted(str(p.relative_to(out)) for d in ("images", "masks", "dicom") if (out / d).is_dir()
                   for p in (out / d).rglob("*") if p.is_file() and str(p.relative_to(out)) not in listed)
    add("unlisted_files", "output folder", "warn" if extra else "ok",
        f"{len(extra)} file(s) not in dataset.json, e.g. {extra[:3]}" if extra else "every file is listed")
    return pd.DataFrame(rows, columns=["check", "item", "status", "detail"])


def _read_json(path: Path, add):
    if not path.exists():
        add("file_exists", path.name, False, "missing")
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        add("file_readable", path.name, False, f"not valid JSON ({exc})")
        return None
    add("file_readable", path.name, True, "")
    return data


def _check_dicom(path: Path, rel: str, check: str, add, *, need_frames: bool) -> None:
    import pydicom

    if not path.exists():
        add(check, rel, False, "missing")
        return
    try:
        ds = pydicom.dcmread(path)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        if need_frames:
            px = ds.pixel_array
            if frames < 1 or not px.any():
                add(check, rel, False, "SEG has no non-empty frame")
                return
        elif ds.get("PatientIdentityRemoved") != "YES":
            add(check, rel, False, "PatientIdentityRemoved is not YES")
            return
    except Exception as exc:  # pydicom raises several types for broken files
        add(check, rel, False, f"unreadable ({type(exc).__name__}: {exc})")
        return
    add(check, rel, True, f"{frames} frame(s)")


def summarize(qa) -> str:
    """Short text: counts per status and the failing/warning rows (at most 20)."""
    counts = qa["status"].value_counts().to_dict()
    lines = [f"QA: {counts.get('ok', 0)} ok, {counts.get('warn', 0)} warnings, {counts.get('fail', 0)} failures"]
    bad = qa[qa["status"] != "ok"]
    for row in bad.head(20).itertuples():
        lines.append(f"  {row.status.upper()} {row.check} {row.item}: {row.detail}")
    if len(bad) > 20:
        lines.append(f"  ... {len(bad) - 20} more in qa.csv")
    return "\n".join(lines)
