"""`medlabel export <inputs> -o <dir>`: COCO-style data set with DICOM SEG masks, splits and QA.

Inputs are pairs ``IMAGE SEGMENTATION [IMAGE SEGMENTATION ...]`` or one CSV manifest with columns
``image, segmentation`` and optionally ``patient_id, annotator, names`` (``1=liver;2=spine``) and
``window`` (PNG window of that image: a preset such as ``lung`` or ``centre,width``).
Rows or pairs that name the same image become one case with several segmentations (annotators).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError, ReadError
from ._progress import tqdm_progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export images + segmentations as a COCO-style data set (PNG, JSON, DICOM SEG, splits, QA)",
        description="Write a COCO-style data set: windowed PNG slices, dataset.json and one JSON per split, "
                    "a DICOM SEG per category for DICOM sources, optional de-identified DICOM copies, "
                    "patient-level splits (splits.csv) and a QA report (qa.csv).")
    p.add_argument("inputs", nargs="+", type=Path,
                   help="IMAGE SEGMENTATION pairs, or one CSV manifest (columns image, segmentation[, patient_id, "
                        "annotator, names, window])")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--split", default="8:1:1", help="patient-level train:val:test ratios (default 8:1:1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split shuffle (default 0)")
    p.add_argument("--stratify", choices=("annotators", "labels"),
                   help="stratify splits by number of annotators or by the labels present per patient")
    p.add_argument("--deidentify", action="store_true",
                   help="pseudonymise ids in the JSON and write de-identified DICOM copies (PS3.15 Basic Profile subset)")
    p.add_argument("--salt", help="secret for reproducible pseudonyms (default: random, not re-linkable)")
    p.add_argument("--window", default="auto",
                   help="PNG window: auto, soft_tissue, lung, mediastinum, bone, liver, brain, or 'centre,width' HU")
    p.add_argument("--all-slices", action="store_true", help="export every slice, not only labelled ones")
    p.add_argument("--no-dicom-masks", action="store_true", help="do not write DICOM SEG masks")
    p.add_argument("--names", help="category names for label-map values, e.g. '1=liver,2=spine'")
    p.add_argument("--supercategory",
                   help="COCO supercategory per category, e.g. 'nodule=malignant,cyst=benign' (default: terminology)")
    p.add_argument("--description", default="SlicerMedLabel dataset export", help="info.description of the JSON")
    p.add_argument("--force", action="store_true", help="write over a previous export in the output folder")
    p.set_defaults(func=run)


def parse_names(text: str | None) -> dict[int, str] | None:
    """``"1=liver,2=spine"`` (or with ';') → {1: 'liver', 2: 'spine'}."""
    if not text or not str(text).strip():
        return None
    out: dict[int, str] = {}
    for part in str(text).replace(";", ",").split(","):
        if not part.strip():
            continue
        value, sep, name = part.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[int(value)] = name.strip()
        except ValueError:
            raise InputError(f"names {text!r}: write value=name pairs such as '1=liver,2=spine'") from None
    return out


def parse_groups(text: str | None) -> dict[str, str] | None:
    """``"nodule=malignant,cyst=benign"`` → {'nodule': 'malignant', 'cyst': 'benign'}."""
    if not text or not str(text).strip():
        return None
    out: dict[str, str] = {}
    for part in str(text).replace(";", ",").split(","):
        name, sep, group = part.partition("=")
        if not sep or not name.strip() or not group.strip():
            raise InputError(f"supercategory {text!r}: write category=group pairs such as 'nodule=malignant'")
        out[name.strip()] = group.strip()
    return out


def cases_from_inputs(inputs: list[Path], names: dict[int, str] | None = None):
    """Build :class:`~medlabel.dataset.ExportCase` objects from CLI inputs (pairs or a CSV manifest)."""
    from ..dataset import ExportCase

    rows: list[dict] = []
    if len(inputs) == 1 and inputs[0].suffix.lower() == ".csv":
        import pandas as pd

        manifest = inputs[0]
        if not manifest.exists():
            raise ReadError(f"manifest {manifest} does not exist")
        df = pd.read_csv(manifest, dtype=str).fillna("")
        missing = {"image", "segmentation"} - set(df.columns)
        if missing:
            raise InputError(f"manifest {manifest} lacks column(s) {sorted(missing)}; it has {list(df.columns)}")
        for r in df.to_dict(orient="records"):
            base = manifest.parent

            def resolve(p: str, base=base) -> Path:
                q = Path(p)
                return q if q.is_absolute() else base / q

            rows.append({"image": resolve(r["image"]), "segmentation": resolve(r["segmentation"]),
                         "patient_id": r.get("patient_id") or None, "annotator": r.get("annotator") or None,
                         "names": parse_names(r.get("names")) or names, "window": r.get("window") or None})
    else:
        if len(inputs) % 2:
            raise InputError(f"{len(inputs)} inputs given: give IMAGE SEGMENTATION pairs (an even number) or one "
                             ".csv manifest")
        for image, seg in zip(inputs[::2], inputs[1::2], strict=True):
            rows.append({"image": image, "segmentation": seg, "patient_id": None, "annotator": None, "names": names,
                         "window": None})
    grouped: dict[str, dict] = {}
    for r in rows:
        for key in ("image", "segmentation"):
            if not r[key].exists():
                raise ReadError(f"{key} {r[key]} does not exist")
        g = grouped.setdefault(str(r["image"].resolve()), {"image": r["image"], "segs": [], "annotators": [],
                                                          "patient_id": r["patient_id"], "names": r["names"],
                                                          "window": r["window"]})
        g["segs"].append(r["segmentation"])
        g["annotators"].append(r["annotator"])
    return [ExportCase(g["image"], g["segs"], patient_id=g["patient_id"],
                       annotators=g["annotators"] if any(g["annotators"]) else None, names=g["names"],
                       window=g["window"])
            for g in grouped.values()]


def run(args: argparse.Namespace) -> int:

    from ..dataset import export_dataset, summarize

    cases = cases_from_inputs(list(args.inputs), parse_names(args.names))
    with tqdm_progress("export") as progress:
        result = export_dataset(
            cases, args.output, split=args.split, seed=args.seed, stratify=args.stratify,
            deidentify=args.deidentify, salt=args.salt, window=args.window,
            slices="all" if args.all_slices else "labeled", dicom_masks=not args.no_dicom_masks,
            supercategories=parse_groups(args.supercategory),
            description=args.description, force=args.force, progress=progress)
    counts = {s: list(result.splits.values()).count(s) for s in dict.fromkeys(result.splits.values())}
    print(f"exported {len(cases)} image series of {len(result.splits)} patients: {result.n_images} slices, "
          f"{result.n_annotations} annotations, categories {', '.join(result.categories)}")
    print("patients per split: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"DICOM SEG masks: {len(result.files.get('masks', []))}; de-identified DICOM files: "
          f"{len(result.files.get('dicom', []))}")
    for note in result.notes:
        print(f"note: {note}")
    if args.deidentify and not args.salt:
        print("note: pseudonyms used a random salt; pass --salt to make them reproducible")
    print(summarize(result.qa))
    print(f"wrote {result.dataset_json} (+ split JSONs, images/, splits.csv, qa.csv)")
    return 0 if result.qa_passed else 1
