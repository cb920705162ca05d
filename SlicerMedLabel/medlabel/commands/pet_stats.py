"""`medlabel pet-stats <pet dicom folder> <segmentation> -o <dir>`: SUV statistics per segment.

Writes ``pet_stats.csv`` (or ``.xlsx``) with SUVmax, SUVmean, SUVpeak, MTV, TLG per segment and
``pet_stats.json`` with the SUV conversion used (dose, decay, weight, formula) and all parameters.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import __version__
from ..errors import GeometryError, InputError, ReadError
from ..labels import now_iso
from ._progress import tqdm_progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pet-stats", help="SUV statistics (SUVmax/mean/peak, MTV, TLG) per segment of a PET series",
        description="Convert a PET DICOM series to SUV (decay-corrected from its tags, or from values given "
                    "here) and measure every segment. Segments on another grid of the same study (e.g. the "
                    "CT of a PET/CT) are resampled onto the PET grid.")
    p.add_argument("pet", type=Path, help="folder with the PET DICOM series")
    p.add_argument("segmentation", type=Path,
                   help="DICOM SEG or RT structure set (.dcm), Slicer .seg.nrrd, or label map (.nii/.nii.gz/.nrrd)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--format", choices=("csv", "xlsx"), default="csv", help="table format (default csv)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--series", help="PET SeriesInstanceUID when the folder holds several series")
    p.add_argument("--reference", type=Path,
                   help="image folder/file a DICOM SEG or RT structure set was drawn on (e.g. the CT), "
                        "when it is not the PET")
    g = p.add_argument_group("SUV")
    g.add_argument("--suv", choices=("bw", "lbm", "bsa"), default="bw",
                   help="body weight (g/ml), lean body mass (g/ml) or body surface area (cm2/ml); default bw")
    g.add_argument("--lbm-formula", choices=("janmahasatian", "james"), default="janmahasatian",
                   help="lean body mass formula for --suv lbm (default janmahasatian)")
    g.add_argument("--weight-kg", type=float, help="body weight in kg (replaces PatientWeight)")
    g.add_argument("--height-m", type=float, help="height in m (replaces PatientSize)")
    g.add_argument("--sex", choices=("M", "F"), help="sex (replaces PatientSex)")
    g.add_argument("--dose-mbq", type=float, help="injected activity in MBq (replaces RadionuclideTotalDose)")
    g.add_argument("--half-life-s", type=float, help="radionuclide half-life in s (F-18: 6586.2)")
    g.add_argument("--injection-time", help="injection date/time: 2024-03-01T08:45:00 or 08:45 (series date)")
    g.add_argument("--scan-time", help="decay-correction reference time (replaces SeriesDate/SeriesTime)")
    g.add_argument("--allow-uncorrected", action="store_true",
                   help="convert even when CorrectedImage says the series is not attenuation corrected")
    s = p.add_argument_group("statistics")
    s.add_argument("--threshold", choices=("none", "relative", "absolute"), default="none",
                   help="MTV region inside each segment: the segment (none), SUV >= value*SUVmax (relative), "
                        "or SUV >= value (absolute)")
    s.add_argument("--threshold-value", type=float,
                   help="fraction of SUVmax for relative (default 0.41) or SUV for absolute (default 2.5)")
    s.add_argument("--resample", choices=("nearest", "fraction"), default="nearest",
                   help="how segments on another grid reach the PET grid (default nearest)")
    s.add_argument("--save-suv", action="store_true", help="also write the SUV volume as suv.nrrd")
    p.set_defaults(func=run)


def _referenced_series(hdr) -> set[str]:
    """SeriesInstanceUIDs a SEG (ReferencedSeriesSequence) or RTSTRUCT (RT Referenced Series) points to."""
    uids = {str(s.SeriesInstanceUID) for s in hdr.get("ReferencedSeriesSequence", [])}
    for fr in hdr.get("ReferencedFrameOfReferenceSequence", []):
        for st in fr.get("RTReferencedStudySequence", []):
            uids |= {str(se.SeriesInstanceUID) for se in st.get("RTReferencedSeriesSequence", [])}
    return uids


def _read_labels(seg_path: Path, reference: Path | None, suv, pet_series_uid: str):
    """Segments from a DICOM SEG / RTSTRUCT (placed on ``reference``, or on the PET when they reference
    it) or from a .seg.nrrd / label map (their own grid)."""
    from .. import io
    from ..dicom_seg import read_dicom_seg
    from ..rtstruct import RTSTRUCT_SOP_CLASS, read_rtstruct

    if not (seg_path.is_file() and io.is_dicom_file(seg_path)):
        return io.read_segmentation(seg_path)
    import pydicom

    try:
        hdr = pydicom.dcmread(seg_path, stop_before_pixels=True)
    except Exception as exc:  # pydicom raises several types for non-DICOM/corrupt files
        raise ReadError(f"{seg_path} is not a readable DICOM file ({type(exc).__name__}: {exc}); expected a "
                        "DICOM SEG or RT structure set") from exc
    refs = _referenced_series(hdr)
    ref = reference if reference is not None else (suv if pet_series_uid in refs else None)
    if str(hdr.get("SOPClassUID", "")) == RTSTRUCT_SOP_CLASS:
        if reference is not None:
            return read_rtstruct(seg_path, reference=reference)
        try:  # contours need a grid: try the PET (the referenced series UID may have changed on export)
            return read_rtstruct(seg_path, reference=suv)
        except GeometryError as exc:
            raise GeometryError(
                f"{seg_path} is an RT structure set whose contours do not lie on this PET's slices ({exc}). "
                f"It references series {', '.join(sorted(refs)) or '?'}: give that image with --reference "
                "(e.g. the CT folder)") from exc
    return read_dicom_seg(seg_path, reference=ref)


def run(args: argparse.Namespace) -> int:
    from .. import io
    from ..io import check_writable
    from ..pet.series import read_pet_series
    from ..pet.stats import pet_statistics_table

    out_dir: Path = args.output
    table_path = out_dir / f"pet_stats.{args.format}"
    json_path = out_dir / "pet_stats.json"
    suv_path = out_dir / "suv.nrrd"
    for pth in [table_path, json_path] + ([suv_path] if args.save_suv else []):
        check_writable(pth, args.force)
    if args.dose_mbq is not None and args.dose_mbq <= 0:
        raise InputError(f"--dose-mbq must be > 0; got {args.dose_mbq}")

    with tqdm_progress("pet-stats") as progress:
        series = read_pet_series(args.pet, series_uid=args.series,
                                 progress=lambda f, t: progress(0.6 * f, t))
        suv, conv = series.to_suv(
            suv_type=args.suv, lbm_formula=args.lbm_formula, weight_kg=args.weight_kg, height_m=args.height_m,
            sex=args.sex, injected_dose_bq=None if args.dose_mbq is None else args.dose_mbq * 1e6,
            half_life_s=args.half_life_s, injection_datetime=args.injection_time,
            reference_datetime=args.scan_time, require_attenuation_correction=not args.allow_uncorrected)
        progress(0.65, "reading segmentation")
        seg_path: Path = args.segmentation
        labels = _read_labels(seg_path, args.reference, suv, series.tags.series_uid)
        if not len(labels.names):
            raise InputError(f"{seg_path} holds no segment (an empty segmentation or an all-zero label map); "
                             "nothing to measure")
        df = pet_statistics_table(suv, labels, resample=args.resample, threshold=args.threshold,
                                  threshold_value=args.threshold_value, suv_units=conv.units,
                                  progress=lambda f, t: progress(0.7 + 0.3 * f, t))
    df.insert(1, "suv_type", conv.suv_type.value)
    if conv.lbm_formula:
        df.insert(2, "lbm_formula", conv.lbm_formula)
    io.write_table(df, table_path, force=args.force)
    record = {
        "software": f"medlabel {__version__}", "created": now_iso(), "command": "pet-stats",
        "pet": str(args.pet), "segmentation": str(args.segmentation),
        "pet_series_uid": series.tags.series_uid,
        "parameters": {"suv": args.suv, "lbm_formula": args.lbm_formula, "threshold": args.threshold,
                       "threshold_value": args.threshold_value, "resample": args.resample,
                       "peak_sphere_ml": 1.0},
        "suv_conversion": conv.as_dict(),
        "segments": df.to_dict(orient="records"),
    }
    from ..io import atomic_write

    with atomic_write(json_path, args.force) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str))
    if args.save_suv:
        io.write_image(suv, suv_path, force=args.force)
    uptake = "n/a" if conv.uptake_time_s is None else f"{conv.uptake_time_s:.0f} s"
    print(f"SUV{args.suv} ({conv.units}), factor {conv.as_dict()['suv_factor']}, uptake {uptake}; "
          f"{len(df)} segments")
    with_cols = ["segment", "voxel_count", "suv_max", "suv_mean", "suv_peak", "mtv_ml", "tlg"]
    print(df[with_cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for note in conv.notes:
        print(f"note: {note}")
    print(f"wrote {table_path} and {json_path}")
    return 0
