"""`medlabel info <path>`: what is in a DICOM folder, image or segmentation file."""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

from .. import io

_SHOWN_TAGS = ("Modality", "PatientID", "PatientSex", "PatientAge", "PatientSize", "PatientWeight",
               "StudyDate", "SeriesDescription", "Manufacturer", "Units", "DecayCorrection",
               "RadionuclideTotalDose", "RadionuclideHalfLife", "RadiopharmaceuticalStartTime")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="summarise a DICOM folder, an image or a segmentation",
                       description="Print series, geometry (z, y, x order; LPS origin) and the tags a study needs.")
    p.add_argument("path", type=Path, help="DICOM folder, DICOM file, .nii/.nii.gz/.nrrd image or .seg.nrrd")
    p.add_argument("--series", help="SeriesInstanceUID to read when a folder holds several")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run)


def summarise(path: Path, series_uid: str | None = None) -> dict:
    """A JSON-able summary of ``path`` (series list, geometry, value range, tags, warnings)."""
    out: dict = {"path": str(path)}
    if path.is_dir():
        out["series"] = io.list_dicom_series(path)
    if path.name.lower().endswith(".seg.nrrd"):
        ls = io.read_seg_nrrd(path)
        g = ls.geometry
        out.update(kind="segmentation", shape_zyx=list(g.shape), spacing_mm_zyx=list(g.spacing_mm),
                   origin_lps=list(g.origin_lps),
                   segments=[{"name": s.name, "voxels": s.voxel_count,
                              "volume_ml": s.voxel_count * float(np.prod(g.spacing_mm)) / 1000.0,
                              "terminology": s.terminology.type.meaning if s.terminology else None,
                              "tags": s.tags} for s in ls])
        return out
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", io.MedLabelWarning)
        img = io.read_image(path, series_uid)
    out.update(kind="image", shape_zyx=list(img.shape), spacing_mm_zyx=list(img.spacing_mm),
               origin_lps=list(img.origin_lps), direction=np.round(img.direction, 6).tolist(),
               value_min=float(img.array.min()), value_max=float(img.array.max()),
               tags={k: img.meta[k] for k in _SHOWN_TAGS if k in img.meta},
               warnings=[str(w.message) for w in caught])
    if img.meta.get("skipped"):
        out["skipped_files"] = img.meta["skipped"]
    return out


def run(args: argparse.Namespace) -> int:
    info = summarise(args.path, args.series)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"{info['path']}: {info['kind']}")
    for s in info.get("series", []):
        print(f"  series {s['SeriesInstanceUID']}  {s['Modality']}  {s['files']} files  {s['SeriesDescription']}")
    print(f"  shape (z, y, x): {tuple(info['shape_zyx'])}")
    print(f"  spacing (z, y, x) mm: {tuple(round(v, 4) for v in info['spacing_mm_zyx'])}")
    print(f"  origin LPS mm: {tuple(round(v, 2) for v in info['origin_lps'])}")
    if info["kind"] == "image":
        print(f"  values: {info['value_min']:.1f} .. {info['value_max']:.1f}")
        for k, v in info["tags"].items():
            print(f"  {k}: {v}")
        for w in info["warnings"]:
            print(f"  WARNING: {w}")
    else:
        for s in info["segments"]:
            print(f"  segment {s['name']!r}: {s['voxels']} voxels, {s['volume_ml']:.2f} ml, {s['terminology'] or ''}")
    return 0
