"""`medlabel consensus <inputs> -o <dir>`: fuse several annotators' segmentations and report agreement."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ._progress import tqdm_progress


def _label_names(text: str | None) -> dict[int, str] | None:
    if not text:
        return None
    out = {}
    for item in text.split(","):
        value, sep, name = item.partition("=")
        if not sep or not value.strip().isdigit() or not name.strip():
            raise InputError(f"--label-names: expected VALUE=NAME[,VALUE=NAME...] (e.g. 1=nodule); got {item!r}")
        out[int(value)] = name.strip()
    return out


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "consensus", help="consensus (STAPLE / majority / k-of-n) of several annotators + agreement report",
        description="Read several annotators' segmentations of one image (.seg.nrrd, label maps, DICOM SEG), "
                    "fuse them per structure and write consensus.seg.nrrd, per-annotator and pairwise tables "
                    "(CSV + XLSX), flags, review decisions, a disagreement map and a pairwise-Dice heat map.")
    p.add_argument("inputs", nargs="*", type=Path, help="segmentation files and/or folders of them")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--method", choices=["staple", "majority", "kofn", "weighted", "multilabel"], default="staple",
                   help="consensus method (default: staple per structure; weighted = vote weighted by STAPLE "
                        "performance; multilabel = one multi-label STAPLE over all structures)")
    p.add_argument("--k", type=int, help="for --method kofn: how many annotators must agree")
    p.add_argument("--manifest", type=Path, help="CSV with columns file, annotator[, skill, tool]")
    p.add_argument("--label-names", help="names for label-map values, e.g. 1=nodule,2=core")
    p.add_argument("--min-dice", type=float, default=0.5, help="flag pairs below this Dice (default 0.5)")
    p.add_argument("--tolerance-mm", type=float, default=2.0, help="surface Dice tolerance in mm (default 2)")
    p.add_argument("--metric", choices=["dice", "iou", "surface_dice"], default="dice",
                   help="metric of the accept/redo rule (default dice)")
    p.add_argument("--accept", type=float, default=0.9, help="novice accepted at or above this score (0.9)")
    p.add_argument("--adjudicate", type=float, default=0.8,
                   help="experts below this score against each other go to adjudication (0.8)")
    p.add_argument("--reference", help="annotator id whose work is the reference for novices (default consensus)")
    p.add_argument("--no-surface", action="store_true",
                   help="skip surface distances (HD95, mean distance, surface Dice): faster on large structures")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    from ..review.consensus import review
    from ..review.inputs import load_annotations
    from ..review.report import OUTPUT_FILES, write_review

    if not args.force:
        existing = [f for f in OUTPUT_FILES if (args.output / f).exists()]
        if (args.output / "annotations").is_dir() and any((args.output / "annotations").iterdir()):
            existing.append("annotations/")
        if existing:
            from ..errors import OutputExistsError

            raise OutputExistsError(f"{args.output} already holds {', '.join(existing)}; nothing was written. "
                                    "Pass --force to replace them")
    if not args.inputs and not args.manifest:
        raise InputError("give segmentation files/folders or --manifest")
    with tqdm_progress("consensus") as progress:
        anns = load_annotations(args.inputs, manifest=args.manifest, label_names=_label_names(args.label_names))
        result = review(anns, method=args.method, k=args.k, min_dice=args.min_dice, tolerance_mm=args.tolerance_mm,
                        metric=args.metric, accept_threshold=args.accept, adjudication_threshold=args.adjudicate,
                        reference_annotator=args.reference, surface=not args.no_surface, progress=progress)
        paths = write_review(result, args.output, force=args.force)
    per = result.per_annotator
    print(f"{len(anns)} annotators, {len(result.consensus)} structures, method {args.method}")
    cols = [c for c in ("structure", "annotator", "skill", "voxels", "dice_vs_consensus", "hd95_mm_vs_consensus",
                        "mean_pairwise_dice") if c in per.columns]
    print(per[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"flags: {len(result.flags)}; decisions: "
          + ", ".join(f"{k} {v}" for k, v in result.review["decision"].value_counts().items()))
    for f in result.flags["message"].head(10):
        print(f"  ! {f}")
    print(f"outputs in {args.output}: {', '.join(sorted(p.name for p in paths.values()))}")
    return 0
