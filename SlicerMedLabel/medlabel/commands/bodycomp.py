"""`medlabel bodycomp`: body composition at L3 for one study or a batch.

Single study::

    medlabel bodycomp <dicom folder | image file> (--slice N | --slice-mm Z | --auto-l3)
        [--slab 3] [--vertebra-labels seg.nii.gz] [--sex F --height 1.65 --weight 70] -o out/

Batch (a folder of studies, or a CSV/XLSX with a ``path`` column and optional ``slice``,
``slice_mm``, ``sex``, ``height_m`` / ``height_cm`` / ``height`` (e.g. 172cm), ``weight_kg`` / ``weight_lb`` /
``weight`` (e.g. 154lb), ``study_id``)::

    medlabel bodycomp --batch studies.csv -o out/

A batch continues past bad studies and lists them with reasons at the end (exit code 1 when any
study failed). Reference sets: ``medlabel bodycomp --list-references``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ._progress import tqdm_progress


def _num(value, fmt: str) -> str:
    """``value`` formatted, or '?' when it is missing (None, NaN or empty)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "?"
    return "?" if v != v else format(v, fmt)


def _argtype(name: str):
    """argparse ``type`` calling ``medlabel.bodycomp.indices.<name>`` (imported when used, so that
    ``medlabel --help`` stays fast); its InputError becomes an argparse usage error."""

    def convert(text: str) -> float:
        from ..bodycomp import indices

        try:
            return getattr(indices, name)(text)
        except InputError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = name.removeprefix("parse_").split("_")[0]
    return convert


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
    p.add_argument("--height", type=_argtype("parse_height_m"),
                   help="height: metres (1.72) or with a unit (172cm); default: DICOM PatientSize when plausible")
    p.add_argument("--weight", type=_argtype("parse_weight_kg"),
                   help="weight: kg (70) or with a unit (154lb); default: DICOM PatientWeight when plausible")
    p.add_argument("--preset", default="alberta", help="HU windows: alberta (default) or fat_190_30")
    p.add_argument("--hu-window", action="append", default=[], metavar="TISSUE=LOW,HIGH",
                   help="custom HU window replacing the preset's, e.g. vat=-190,-30 (tissue: muscle, sat, imat, "
                        "vat); repeatable")
    p.add_argument("--reference", default="lee2022", help="reference set for T-scores (default lee2022)")
    p.add_argument("--study-id", help="name used in the row and file names")
    p.add_argument("--reference-file", type=Path, action="append", default=[],
                   help="extra reference-set JSON (e.g. one built with --build-reference); repeatable")
    p.add_argument("--list-references", action="store_true", help="list the reference sets and exit")
    p.add_argument("--build-reference", type=Path, metavar="TABLE",
                   help="build a reference set from a cohort CSV/XLSX (columns sex, healthy_young, sma_cm2, "
                        "smi_cm2_m2, ...) and write it to -o as <name>.json; needs --name, --citation, --population")
    p.add_argument("--name", help="name of the built reference set")
    p.add_argument("--citation", help="citation / provenance of the built reference set")
    p.add_argument("--population", help="population of the built reference set")
    p.add_argument("-o", "--output", type=Path, help="output folder")
    p.add_argument("--force", action="store_true", help="replace existing output files")
    p.set_defaults(func=run)


def parse_windows(preset: str, items: list[str]):
    """The preset, or a dict of custom windows (``muscle_hu`` ...) when ``--hu-window`` was given."""
    from ..bodycomp import resolve_windows

    if not items:
        return preset
    base = resolve_windows(preset).to_dict()
    base.pop("name")
    for item in items:
        key, _, value = item.partition("=")
        key = key.strip().lower()
        if key not in ("muscle", "sat", "imat", "vat"):
            raise InputError(f"--hu-window {item!r}: tissue must be muscle, sat, imat or vat")
        try:
            lo, hi = (float(v) for v in value.split(","))
        except ValueError:
            raise InputError(f"--hu-window {item!r}: give LOW,HIGH in HU, e.g. vat=-190,-30") from None
        base[f"{key}_hu"] = (lo, hi)
    return {**base, "name": "custom"}


def run(args: argparse.Namespace) -> int:
    from .. import bodycomp, io

    if args.list_references:
        print(bodycomp.load_reference_sets(extra=args.reference_file))
        return 0
    if args.output is None:
        raise InputError("give an output folder with -o/--output")
    if args.build_reference is not None:
        missing = [k for k in ("name", "citation", "population") if not getattr(args, k)]
        if missing:
            raise InputError(f"--build-reference needs {', '.join('--' + m for m in missing)}")
        ref = bodycomp.build_reference(io.read_table(args.build_reference), name=args.name, citation=args.citation,
                                       population=args.population)
        path = bodycomp.write_reference_set(ref, args.output / f"{args.name}.json", force=args.force)
        print(f"wrote reference set {args.name} ({len(ref.entries)} entries) to {path}")
        return 0
    registry = bodycomp.load_reference_sets(extra=args.reference_file)
    preset = parse_windows(args.preset, args.hu_window)
    if args.batch is not None:
        if args.input is not None:
            raise InputError("give either one study (INPUT) or --batch, not both")
        studies = bodycomp.read_batch_list(args.batch)
        if not studies:
            raise InputError(f"{args.batch}: no studies found")
        with tqdm_progress(f"bodycomp batch ({len(studies)} studies)") as progress:
            table, failures = bodycomp.run_batch(studies, args.output, auto_l3=True, slab_slices=args.slab,
                                                 preset=preset, reference=args.reference, force=args.force,
                                                 registry=registry, progress=progress)
        print(f"{len(table)} studies done; results in {args.output / 'bodycomp_batch.csv'}")
        if failures:
            print(f"{len(failures)} studies failed:")
            for study, reason in failures:
                print(f"  {study}: {reason}")
            return 1
        return 0

    if args.input is None:
        raise InputError("give a DICOM folder or image file, or --batch")
    if args.slice_index is None and args.slice_mm is None and not args.auto_l3:
        raise InputError("choose the L3 slice: --slice N, --slice-mm Z or --auto-l3")
    image = io.read_image(args.input)
    labels = io.read_image(args.vertebra_labels) if args.vertebra_labels else None
    with tqdm_progress("bodycomp") as progress:
        res = bodycomp.run_study(image, slice_index=args.slice_index, slice_mm=args.slice_mm, auto_l3=args.auto_l3,
                                 vertebra_labels=labels.array if labels is not None else None,
                                 slab_slices=args.slab, sex=args.sex, height_m=args.height, weight_kg=args.weight,
                                 preset=preset, reference=args.reference, registry=registry,
                                 study_id=args.study_id,
                                 out_dir=args.output, force=args.force, progress=progress)
    r = res.row
    print(f"{r['study_id']}: slice {res.choice.as_text()}")
    if res.choice.note:
        print(f"  {res.choice.note}")
    print(f"  muscle {r['muscle_area_cm2']:.1f} cm² ({r['muscle_mean_hu']:.0f} HU), IMAT {r['imat_area_cm2']:.1f}, "
          f"VAT {r['vat_area_cm2']:.1f}, SAT {r['sat_area_cm2']:.1f} cm²")
    print(f"  sex {r['sex'] or '?'} ({r['sex_source']}), height {_num(r['height_m'], '.2f')} m "
          f"({r['height_source']}), weight {_num(r['weight_kg'], '.1f')} kg ({r['weight_source']})")
    for key, label in (("sma_cm2", "SMA"), ("smi_cm2_m2", "SMI")):
        if f"t_{key}" in r:
            print(f"  {label} {_num(r[key], '.1f')}, T {_num(r[f't_{key}'], '.2f')} ({r[f'band_{key}'] or 'n/a'}) "
                  f"vs {r['reference']}")
    missing = (["--sex"] if not r.get("sex") else []) + \
        [f"--{k}" for k, col in (("height", "height_m"), ("weight", "weight_kg")) if _num(r.get(col), "") == "?"]
    if missing:
        print(f"  not in the DICOM tags: give {', '.join(missing)} for the indices that need them")
    for kind, path in res.paths.items():
        print(f"  wrote {kind}: {path}")
    return 0
