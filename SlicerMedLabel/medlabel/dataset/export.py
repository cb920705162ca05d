"""Dataset export: COCO-style JSON + slice PNGs, DICOM SEG masks, de-identified DICOM, splits, QA.

Output folder layout (``out_dir``)::

    dataset.json            COCO-style JSON of every exported slice (images carry their split)
    train.json, val.json, test.json   the same, one split each (same category ids)
    images/<case>_<k>.png   windowed 8-bit slices (k = slice index, 0-based, array order)
    masks/<case>/<category>[_<annotator>].dcm   DICOM SEG (BINARY, one segment) per category
    dicom/<case>/<new SOPInstanceUID>.dcm       de-identified source series (with --deidentify)
    splits.csv              patient → split, with images, annotations, annotators and labels
    qa.csv                  the checks of :func:`medlabel.dataset.qa.check_export`

``<case>`` is ``<patient>_<n>`` where n numbers the image series of that patient (pseudonym when
de-identified). DICOM outputs are written only for DICOM sources; for NIfTI/NRRD sources the
export says so in ``notes``.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, OutputExistsError
from ..image import Image
from ..labels import TAG_ANNOTATOR, TAG_MODEL, TAG_SKILL, TAG_STATUS, TAG_TOOL, TERMS, LabelSet, now_iso
from .coco import mask_bbox, mask_to_polygons, to_uint8, window_limits
from .deid import Pseudonymizer, deidentify_files
from .splits import SPLIT_NAMES, parse_ratios, patient_splits

Progress = Callable[[float, str], None]

#: memory for cases kept between the checking pass and the export pass (larger data sets are read twice)
CACHE_BYTES = 1 << 30


@dataclass
class ExportCase:
    """One image series and the segmentations drawn on it.

    Parameters
    ----------
    image : path or Image
        DICOM folder/file, NIfTI or NRRD (read with :func:`medlabel.io.read_image`), or an Image.
        An Image whose ``meta["files"]`` lists DICOM files counts as a DICOM source.
    segmentations : list of path or LabelSet
        ``.seg.nrrd``, label map or DICOM SEG files (:func:`medlabel.io.read_segmentation`), or
        LabelSets, all on the image grid (one per annotator, for instance).
    patient_id : str, optional
        Default: the image's PatientID tag, else the image file/folder name.
    annotators : list of str, optional
        One per segmentation; used for segments without a ``MedLabel.Annotator`` tag.
    names : dict int → str, optional
        Category names for label values of label-map files (``Segment_<v>`` → name).
    window : str or (centre, width), optional
        PNG window of this case (e.g. "lung" for chest CT); default: the export's ``window``.
    """

    image: str | os.PathLike | Image
    segmentations: list[str | os.PathLike | LabelSet]
    patient_id: str | None = None
    annotators: list[str | None] | None = None
    names: dict[int, str] | None = None
    window: str | tuple[float, float] | None = None


@dataclass
class ExportResult:
    """What :func:`export_dataset` wrote."""

    out_dir: Path
    dataset_json: Path
    n_images: int
    n_annotations: int
    categories: list[str]
    splits: dict[str, str]
    files: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    qa: Any = None  # pandas DataFrame

    @property
    def qa_passed(self) -> bool:
        return self.qa is not None and not (self.qa["status"] == "fail").any()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-") or "x"


def _load_case(case: ExportCase, index: int) -> tuple[Image, list[LabelSet], str]:
    from ..io import read_image, read_segmentation

    image = case.image if isinstance(case.image, Image) else read_image(case.image)
    if not case.segmentations:
        raise InputError(f"case {index + 1} ({_describe(case.image)}): no segmentation given; "
                         "every image needs at least one segmentation")
    if case.annotators is not None and len(case.annotators) != len(case.segmentations):
        raise InputError(f"case {index + 1}: {len(case.annotators)} annotators for {len(case.segmentations)} "
                         "segmentations; give one annotator per segmentation")
    labelsets = []
    for j, seg in enumerate(case.segmentations):
        ls = seg if isinstance(seg, LabelSet) else read_segmentation(seg, reference=image)
        from ..labels import Geometry

        if not ls.geometry.matches(Geometry.of(image)):
            raise InputError(f"segmentation {_describe(seg)} is on grid {ls.geometry.shape} but the image "
                             f"{_describe(case.image)} is {image.shape} (or origin/spacing differ); resample it first")
        ls = ls.copy()
        annotator = case.annotators[j] if case.annotators else None
        if annotator is None and len(case.segmentations) > 1:
            # several segmentations without annotator: tell them apart by their file (or set) name
            src = seg.meta.get("source") if isinstance(seg, LabelSet) else seg
            annotator = Path(str(src)).name.split(".")[0] if src else f"segmentation{j + 1}"
        renamed = LabelSet(ls.geometry, meta=ls.meta)
        for s in ls:
            m = re.fullmatch(r"Segment_(\d+)", s.name)
            if case.names and m and int(m.group(1)) in case.names:
                new = case.names[int(m.group(1))]
                s = s.copy(name=new, id=new, terminology=s.terminology or TERMS.get(new))
            if annotator and not s.tags.get(TAG_ANNOTATOR):
                s.tags[TAG_ANNOTATOR] = str(annotator)
            renamed.add(s)
        labelsets.append(renamed)
    pid = case.patient_id or image.meta.get("PatientID")
    if not pid:
        src = case.image if not isinstance(case.image, Image) else image.meta.get("source", f"case{index + 1}")
        pid = Path(str(src)).name.split(".")[0]
    return image, labelsets, str(pid)


def _describe(obj) -> str:
    if isinstance(obj, Image):
        return str(obj.meta.get("source", "image"))
    if isinstance(obj, LabelSet):
        return str(obj.meta.get("source", "label set"))
    return str(obj)


def _category_entry(cid: int, name: str, seg, group: str | None = None) -> dict[str, Any]:
    term = seg.terminology
    entry: dict[str, Any] = {"id": cid, "name": name,
                             "supercategory": group or (term.category.meaning if term else "unspecified")}
    if term:
        entry["code"] = {"scheme": term.type.scheme, "value": term.type.value, "meaning": term.type.meaning}
        entry["snomed_ct"] = term.type.value if term.type.scheme in ("SCT", "SRT") else None
        entry["category_code"] = {"scheme": term.category.scheme, "value": term.category.value,
                                  "meaning": term.category.meaning}
        if term.modifier:
            entry["modifier_code"] = {"scheme": term.modifier.scheme, "value": term.modifier.value,
                                      "meaning": term.modifier.meaning}
    else:
        entry["code"] = None
        entry["snomed_ct"] = None
    return entry


def _is_dicom_source(image: Image) -> bool:
    files = image.meta.get("files") or []
    return bool(files) and bool(image.meta.get("Modality")) and all(Path(f).exists() for f in files)


def _write_json(path: Path, data: dict) -> None:
    from ..io import atomic_write

    with atomic_write(path, True) as tmp:
        tmp.write_text(json.dumps(data, indent=1, allow_nan=False))


def export_dataset(
    cases: Sequence[ExportCase],
    out_dir: str | os.PathLike,
    *,
    split: str | Sequence[float] = (8, 1, 1),
    seed: int = 0,
    stratify: str | None = None,
    deidentify: bool = False,
    salt: str | None = None,
    window: str | tuple[float, float] | None = "auto",
    slices: str = "labeled",
    dicom_masks: bool = True,
    supercategories: dict[str, str] | None = None,
    description: str = "SlicerMedLabel dataset export",
    license_name: str = "unspecified",
    force: bool = False,
    progress: Progress | None = None,
) -> ExportResult:
    """Export image/segmentation pairs as a COCO-style data set with masks, splits and QA.

    Parameters
    ----------
    cases : sequence of ExportCase
        Image series with their segmentations (several annotators per image allowed).
    out_dir : path
        Output folder (created). An existing ``dataset.json`` there is an error unless ``force``.
    split : "8:1:1" or sequence of float
        Patient-level train:val:test ratios.
    seed : int
        Seed of the split shuffle.
    stratify : None, "annotators" or "labels"
        Stratify the split by number of distinct annotators per patient, or by the set of
        categories present per patient.
    deidentify : bool
        Pseudonymise patient/study/series ids in the JSON, leave out source paths, and write
        de-identified copies of DICOM sources (``dicom/``) which the DICOM SEGs then reference.
    salt : str, optional
        Secret for consistent pseudonyms (same salt → same pseudonyms and UIDs). Default: random,
        so the export cannot be re-linked to the originals.
    window : "auto", preset name, "centre,width" or (centre, width)
        Display window in HU for the PNGs (see :func:`medlabel.dataset.coco.window_limits`).
    slices : "labeled" or "all"
        Export only slices where some segment has voxels (default), or every slice.
    dicom_masks : bool
        Write one DICOM SEG per category and segmentation for DICOM sources.
    supercategories : dict category name → group, optional
        COCO ``supercategory`` per category (e.g. ``{"nodule_a": "malignant", "nodule_b": "benign"}``);
        default: the terminology category (e.g. "Morphologically Altered Structure").
    progress : callable(fraction, text), optional

    Returns
    -------
    ExportResult
        Counts, written files, notes (e.g. sources that are not DICOM) and the QA table.
    """
    from .. import __version__
    from ..dicom_seg import write_dicom_seg
    from ..io import atomic_write
    from .qa import check_export

    report = progress or (lambda f, t: None)
    out = Path(out_dir)
    dataset_json = out / "dataset.json"
    if dataset_json.exists() and not force:
        raise OutputExistsError(f"{dataset_json} exists; nothing was written. Choose another output folder or "
                                "pass force=True (CLI: --force) to write over the previous export.")
    if not cases:
        raise InputError("no cases to export; give at least one image with its segmentation")
    if slices not in ("labeled", "all"):
        raise InputError(f"slices must be 'labeled' or 'all'; got {slices!r}")
    if stratify not in (None, "annotators", "labels"):
        raise InputError(f"stratify must be None, 'annotators' or 'labels'; got {stratify!r}")
    fractions = parse_ratios(split)
    for case in cases:
        window_limits(np.zeros(1), "CT", case.window or window)  # a bad window fails before any work
    pseudo = (Pseudonymizer(salt) if salt else Pseudonymizer.random()) if deidentify else None
    notes: list[str] = []

    # 1. first pass: every case is read and checked (grids, names) before any file is written; the
    #    patient id, annotators and labels feed the split; cases are kept for the second pass only up
    #    to CACHE_BYTES, so a large data set is read twice instead of filling the memory
    per_patient_annotators: dict[str, set] = defaultdict(set)
    per_patient_labels: dict[str, set] = defaultdict(set)
    case_pids: list[str] = []
    kept: dict[int, tuple] = {}  # cases kept from the first pass while they fit in CACHE_BYTES
    used = 0
    for i, case in enumerate(cases):
        report(0.25 * i / len(cases), f"checking case {i + 1}/{len(cases)}")
        loaded = _load_case(case, i)
        _image, labelsets, pid = loaded
        case_pids.append(pid)
        for ls in labelsets:
            for s in ls:
                per_patient_annotators[pid].add(s.tags.get(TAG_ANNOTATOR, ""))
                if s.mask.any():
                    per_patient_labels[pid].add(s.name)
        size = _image.array.nbytes + sum(s.mask.nbytes for ls in labelsets for s in ls)
        if used + size <= CACHE_BYTES:
            kept[i] = loaded
            used += size
        del loaded, _image, labelsets

    # 2. patient-level split
    patients = list(dict.fromkeys(case_pids))
    strata = None
    if stratify == "annotators":
        strata = {p: len(per_patient_annotators[p]) for p in patients}
    elif stratify == "labels":
        strata = {p: tuple(sorted(per_patient_labels[p])) for p in patients}
    names = SPLIT_NAMES[: len(fractions)]
    split_of = patient_splits(patients, ratios=fractions, seed=seed, strata=strata, names=names)

    def public_pid(pid: str) -> str:
        return pseudo.patient_id(pid) if pseudo else pid

    def public_uid(uid) -> str | None:
        return (pseudo.uid(str(uid)) if pseudo else str(uid)) if uid else None

    # 3. per case: PNGs, annotations, DICOM
    if dataset_json.exists():  # force: remove what the previous export listed, so nothing stale remains
        _remove_previous(out, dataset_json)
    categories: dict[str, dict] = {}
    images: list[dict] = []
    annotations: list[dict] = []
    files: dict[str, list[str]] = {"images": [], "masks": [], "dicom": []}
    series_count: dict[str, int] = defaultdict(int)
    out.mkdir(parents=True, exist_ok=True)
    for i, case in enumerate(cases):
        frac0, frac1 = 0.25 + 0.65 * i / len(cases), 0.25 + 0.65 * (i + 1) / len(cases)
        report(frac0, f"exporting case {i + 1}/{len(cases)}")
        image, labelsets, pid = kept.pop(i, None) or _load_case(case, i)  # read again if it was not kept
        series_count[pid] += 1
        case_key = _slug(f"{public_pid(pid)}_{series_count[pid]}")
        meta = image.meta
        modality = meta.get("Modality")
        low, high = window_limits(image.array, modality, case.window or window)
        union = np.zeros(image.shape[0], bool)
        for ls in labelsets:
            for s in ls:
                union |= s.mask.any(axis=(1, 2))
        ks = np.arange(image.shape[0]) if slices == "all" else np.flatnonzero(union)
        if ks.size == 0:
            notes.append(f"{case_key}: every segment is empty; no slice exported")
        z_mm = image.slice_z_mm()
        image_ids: dict[int, int] = {}
        for k in ks:
            rel = f"images/{case_key}_{int(k):04d}.png"
            _write_png(out / rel, to_uint8(image.array[k], low, high))
            files["images"].append(rel)
            img_id = len(images) + 1
            image_ids[int(k)] = img_id
            entry = {
                "id": img_id, "file_name": rel, "width": int(image.shape[2]), "height": int(image.shape[1]),
                "license": 1, "patient_id": public_pid(pid), "study_uid": public_uid(meta.get("StudyInstanceUID")),
                "series_uid": public_uid(meta.get("SeriesInstanceUID")), "modality": modality,
                "manufacturer": meta.get("Manufacturer"), "manufacturer_model": meta.get("ManufacturerModelName"),
                "slice_index": int(k), "z_mm": round(float(z_mm[k]), 4),
                "pixel_spacing_mm": [float(image.spacing_mm[1]), float(image.spacing_mm[2])],
                "slice_spacing_mm": float(image.spacing_mm[0]), "window_hu": [round(low, 3), round(high, 3)],
                "case": case_key, "split": split_of[pid],
            }
            if not pseudo:
                entry["source"] = _describe(image)
            images.append(entry)
        for ls in labelsets:
            for s in ls:
                if s.name not in categories:
                    categories[s.name] = _category_entry(len(categories) + 1, s.name, s,
                                                         (supercategories or {}).get(s.name))
                cid = categories[s.name]["id"]
                for k in np.flatnonzero(s.mask.any(axis=(1, 2))):
                    m2 = s.mask[k]
                    outer, holes = mask_to_polygons(m2)
                    bbox, xyxy = mask_bbox(m2)
                    n_px = int(m2.sum())
                    annotations.append({
                        "id": len(annotations) + 1, "image_id": image_ids[int(k)], "category_id": cid,
                        "segmentation": outer, "segmentation_holes": holes, "area": float(n_px),
                        "area_px": n_px, "area_mm2": round(n_px * image.pixel_area_mm2, 6),
                        "bbox": bbox, "bbox_xyxy": xyxy, "iscrowd": 0, "segment_name": s.name,
                        "annotator": s.tags.get(TAG_ANNOTATOR), "tool": s.tags.get(TAG_TOOL),
                        "status": s.tags.get(TAG_STATUS), "skill": s.tags.get(TAG_SKILL),
                        "model": s.tags.get(TAG_MODEL),
                    })
        # DICOM outputs
        if _is_dicom_source(image):
            sources = [Path(f) for f in meta["files"]]
            if pseudo:
                new = deidentify_files(sources, out / "dicom" / case_key, pseudo, force=True,
                                       progress=lambda f, t, a=frac0, b=frac1: report(a + 0.5 * (b - a) * f, t))
                files["dicom"].extend(str(p.relative_to(out)) for p in new)
                sources = new
            if dicom_masks:
                written: set[str] = set()
                for ls in labelsets:
                    for s in ls:
                        if not s.mask.any():
                            continue
                        annot = s.tags.get(TAG_ANNOTATOR)
                        name = _slug(s.name) + (f"_{_slug(annot)}" if annot and len(labelsets) > 1 else "")
                        rel = f"masks/{case_key}/{name}.dcm"
                        n = 2
                        while rel in written:
                            rel, n = f"masks/{case_key}/{name}_{n}.dcm", n + 1
                        written.add(rel)
                        write_dicom_seg(LabelSet(ls.geometry, [s]), sources, out / rel, force=True,
                                        series_description=f"{s.name} mask"[:64], content_creator=annot or None)
                        files["masks"].append(rel)
        else:
            notes.append(f"{case_key}: the image is not a DICOM series (NIfTI/NRRD or an image without its files); "
                         "no DICOM SEG masks" + (" and no de-identified DICOM" if pseudo else "") + " written for it")
        report(frac1, f"case {i + 1}/{len(cases)} done")

    unknown = sorted(set(supercategories or {}) - set(categories))
    if unknown:
        notes.append(f"supercategory given for {unknown}, which no segment is named; categories: {list(categories)}")
    generic = sorted(n for n in categories if re.fullmatch(r"Segment_\d+", n))
    if generic:
        notes.append(f"categories {generic} carry label-map default names; give names (CLI --names 1=liver, "
                     "manifest column names) so that different structures do not share a category")

    # 4. JSON files
    created = now_iso()
    info = {"description": description, "version": "1.0", "software": f"SlicerMedLabel medlabel {__version__}",
            "date_created": created, "year": int(created[:4]), "contributor": "", "url": ""}
    medlabel_info = {
        "split_ratios": dict(zip(names, fractions, strict=True)), "seed": seed, "stratify": stratify,
        "deidentified": bool(pseudo), "window": window if isinstance(window, str) or window is None else list(window),
        "slices": slices, "files": files, "notes": notes,
        "deidentification": ("DICOM PS3.15 E.1 Basic Profile subset with Retain Longitudinal Temporal Information "
                             "Modified Dates and Retain Patient Characteristics options; see medlabel.dataset.deid")
        if pseudo else None,
    }
    base = {"info": info, "licenses": [{"id": 1, "name": license_name, "url": ""}],
            "categories": list(categories.values())}
    _write_json(dataset_json, {**base, "images": images, "annotations": annotations, "medlabel": medlabel_info})
    for name in names:
        ids = {im["id"] for im in images if im["split"] == name}
        part = {**base, "images": [im for im in images if im["id"] in ids],
                "annotations": [a for a in annotations if a["image_id"] in ids],
                "medlabel": {**medlabel_info, "split": name}}
        _write_json(out / f"{name}.json", part)

    import pandas as pd

    rows = []
    for pid in patients:
        ims = [im for im in images if im["patient_id"] == public_pid(pid)]
        ids = {im["id"] for im in ims}
        rows.append({"patient_id": public_pid(pid), "split": split_of[pid], "images": len(ims),
                     "annotations": sum(a["image_id"] in ids for a in annotations),
                     "annotators": ";".join(sorted(a for a in per_patient_annotators[pid] if a)),
                     "labels": ";".join(sorted(per_patient_labels[pid]))})
    with atomic_write(out / "splits.csv", True) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)

    # 5. QA
    report(0.92, "checking the export")
    qa = check_export(out)
    with atomic_write(out / "qa.csv", True) as tmp:
        qa.to_csv(tmp, index=False)
    report(1.0, f"exported {len(images)} slices, {len(annotations)} annotations")
    return ExportResult(out, dataset_json, len(images), len(annotations), list(categories),
                        {public_pid(p): s for p, s in split_of.items()}, files, notes, qa)


def _write_png(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image as PILImage

    from ..io import atomic_write

    with atomic_write(path, True) as tmp:
        PILImage.fromarray(np.ascontiguousarray(pixels, np.uint8)).save(tmp, format="PNG")


def _remove_previous(out: Path, dataset_json: Path) -> None:
    """Delete the files a previous export in ``out`` listed (images, masks, DICOM) and its JSONs."""
    try:
        old = json.loads(dataset_json.read_text())
    except (OSError, ValueError):
        return
    listed = [im.get("file_name", "") for im in old.get("images", [])]
    for group in ("masks", "dicom"):
        listed += old.get("medlabel", {}).get("files", {}).get(group, [])
    listed += [f"{name}.json" for name in old.get("medlabel", {}).get("split_ratios", {})]
    root = out.resolve()
    for rel in listed:
        path = (out / rel).resolve()
        if rel and root in path.parents and path.is_file():
            path.unlink()
