"""`medlabel bodycomp`: body composition at L3 for one study or a batch.

Single study::

    medlabel bodycomp <dicom folder | image file> (--slice N | --slice-mm Z | --auto-l3)
        [--slab 3] [--vertebra-labels seg.nii.gz] [--sex F --height 1.65 --weight 70] -o out/

Batch (a folder of studies, or a CSV/XLSX with a ``path`` column and optional ``slice``,
``slice_mm``, ``sex``, ``height_m``, ``weight_kg``, ``study_id``)::

    medlabel bodycomp --batch studies.csv -o out/

A batch continues past bad studies and lists them with reasons at the end (exit code 1 when any
study failed). Reference sets: ``medlabel bodycomp --list-references``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bodycomp", help="body composition at L3 (muscle, SAT, VAT, IMAT, indices, T-scores)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", nargs="?", type=Path, help="DICOM folder or image file (NIfTI/NRRD) of one study")
    p.add_argument("--batch", type=Path, help="folder of studies, or CSV/XLSX table with a 'path' column")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--slice", type=int, dest="slice_index", help="array index k of the L3 slice (0-based)")
    where.add_argument("--slice-mm", type=float, help="patient z position (LPS, mm) of the L3 slice")
    where.add_argument("--auto-l3", action="store_true", help="suggest the L3 slice automatically (recorded with "
                                                              "its confidence in the output)")
    p.add_argument("--vertebra-labels", type=Path, help="vertebra label map on the same grid for --auto-l3 "
                                                        "(TotalSegmentator 'total': L3 = 29)")
    p.add_argument("--l3-label", type=int, default=29, help="label value of L3 in --vertebra-labels (default 29)")
    p.add_argument("--slab", type=int, default=1, help="odd number of slices around the choice, averaged (default 1)")
    p.add_argument("--sex", choices=["M", "F", "m", "f"], help="patient sex (default: DICOM PatientSex)")
    p.add_argument("--height", type=float, help="height in metres (default: DICOM PatientSize when plausible)")
    p.add_argument("--weight", type=float, help="weight in kg (default: DICOM PatientWeight when plausible)")
    p.add_argument("--preset", default="alberta", help="HU windows: alberta (default) or fat_190_30")
    p.add_argument("--reference", default="lee2022", help="reference set for T-scores (default lee2022)")
    p.add_argument("--study-id", help="name used in the row and file names")
    p.add_argument("--list-references", action="store_true", help="list the reference sets and exit")
    p.add_argument("-o", "--output", type=Path, help="output folder")
    p.add_argument("--force", action="store_true", help="replace existing output files")
    p.set_defaults(func=run)


def _bar(total_text: str):
    from tqdm import tqdm

    bar = tqdm(total=100, desc=total_text, unit="%", leave=False, file=sys.stderr)

    def progress(fraction: float, text: str) -> None:
        bar.n = int(round(100 * fraction))
        bar.set_postfix_str(text[:50])
        bar.refresh()

    return bar, progress


def run(args: argparse.Namespace) -> int:
    from .. import bodycomp, io

    if args.list_references:
        print(bodycomp.load_reference_sets())
        return 0
    if args.output is None:
        raise InputError("give an output folder with -o/--output")
    if args.batch is not None:
        if args.input is not None:
            raise InputError("give either one study (INPUT) or --batch, not both")
        studies = bodycomp.read_batch_list(args.batch)
        if not studies:
            raise InputError(f"{args.batch}: no studies found")
        bar, progress = _bar(f"bodycomp batch ({len(studies)} studies)")
        try:
            table, failures = bodycomp.run_batch(studies, args.output, auto_l3=True, slab_slices=args.slab,
                                                 preset=args.preset, reference=args.reference, force=args.force,
                                                 progress=progress)
        finally:
            bar.close()
        print(f"{len(table)} studies done; results in {args.output / 'bodycomp_batch.csv'}")
        if failures:
            print(f"{len(failures)} studies failed:")
            for path, reason in failures:
                print(f"  {path}: {reason}")
            return 1
        return 0

    if args.input is None:
        raise InputError("give a DICOM folder or image file, or --batch")
    if args.slice_index is None and args.slice_mm is None and not args.auto_l3:
        raise InputError("choose the L3 slice: --slice N, --slice-mm Z or --auto-l3")
    image = io.read_image(args.input)
    labels = io.read_image(args.vertebra_labels) if args.vertebra_labels else None
    bar, progress = _bar("bodycomp")
    try:
        res = bodycomp.run_study(image, slice_index=args.slice_index, slice_mm=args.slice_mm, auto_l3=args.auto_l3,
                                 vertebra_labels=labels.array if labels is not None else None,
                                 slab_slices=args.slab, sex=args.sex, height_m=args.height, weight_kg=args.weight,
                                 preset=args.preset, reference=args.reference, study_id=args.study_id,
                                 out_dir=args.output, force=args.force, progress=progress)
    finally:
        bar.close()
    r = res.row
    print(f"{r['study_id']}: slice {res.choice.as_text()}")
    if res.choice.note:
        print(f"  {res.choice.note}")
    print(f"  muscle {r['muscle_area_cm2']:.1f} cm² ({r['muscle_mean_hu']:.0f} HU), IMAT {r['imat_area_cm2']:.1f}, "
          f"VAT {r['vat_area_cm2']:.1f}, SAT {r['sat_area_cm2']:.1f} cm²")
    print(f"  sex {r['sex'] or '?'} ({r['sex_source']}), height {r['height_m']} m ({r['height_source']}), "
          f"weight {r['weight_kg']} kg ({r['weight_source']})")
    print(f"  SMI {r['smi_cm2_m2']:.1f} cm²/m², T {r['t_smi_cm2_m2']:.2f} ({r['band_smi_cm2_m2'] or 'n/a'}) vs "
          f"{r['reference']}")
    for kind, path in res.paths.items():
        print(f"  wrote {kind}: {path}")
    return 0
