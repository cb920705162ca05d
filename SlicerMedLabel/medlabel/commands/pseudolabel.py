"""`medlabel pseudolabel FOLDER --model M`: write proposals (status=proposed) for every unlabelled image."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._autolabel_common import add_model_args, load_model, parse_slices
from ._progress import tqdm_progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pseudolabel", help="propose labels for a folder of unlabelled studies (pseudo-label loop)",
                       description="For each image in FOLDER without <case>.seg.nrrd, run the model and write "
                                   "<case>.seg.nrrd with status=proposed. Review/correct them, set status=accepted, "
                                   "then 'medlabel train FOLDER' uses only the accepted ones.")
    p.add_argument("folder", type=Path, help="folder of images (.nii/.nii.gz/.nrrd/.mha or DICOM sub-folders)")
    add_model_args(p)
    p.add_argument("-o", "--out", type=Path, help="where to write <case>.seg.nrrd (default: FOLDER)")
    p.add_argument("--slices", help="N, START:STOP (stop exclusive) or N,M,K; default all slices")
    p.add_argument("--force", action="store_true", help="replace existing segmentations (corrections are lost!)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..autolabel.dataset import pseudolabel_folder

    model = load_model(args)
    with tqdm_progress(f"pseudolabel {model.card.name}", not args.no_progress) as progress:
        report = pseudolabel_folder(args.folder, model, out_dir=args.out, slices=parse_slices(args.slices),
                                    force=args.force, progress=progress)
    for row in report.itertuples():
        print(f"{row.case}: {'proposed -> ' + row.segmentation if row.written else 'skipped: ' + row.reason}")
    print(f"{int(report['written'].sum())} proposal(s) written by {model.card.model_id}")
    return 0
