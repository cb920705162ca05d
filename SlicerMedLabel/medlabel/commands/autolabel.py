"""`medlabel autolabel IMAGE --model M -o OUT.seg.nrrd`: model-predicted labels for review (status proposed)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ._autolabel_common import load_model, parse_slices
from ._progress import tqdm_progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("autolabel", help="propose tissue labels with a model from the registry",
                       description="Run an auto-label model on a CT (DICOM folder, NIfTI, NRRD) and write a .seg.nrrd "
                                   "whose segments are tagged status=proposed, model=name@version, time. "
                                   "'--list' prints the registry with the model cards.")
    p.add_argument("image", type=Path, nargs="?", help="CT image (DICOM folder/file, .nii/.nii.gz, .nrrd)")
    p.add_argument("-o", "--output", type=Path, help="output .seg.nrrd")
    p.add_argument("--model", help="registry name or a <name>.card.json path")
    p.add_argument("--models-dir", type=Path, action="append", default=None,
                   help="folder of user-trained models (repeatable; default $MEDLABEL_MODELS or ~/.medlabel/models)")
    p.add_argument("--slices", help="N, START:STOP (stop exclusive) or N,M,K; default all slices")
    p.add_argument("--reference", type=Path,
                   help="reference segmentation (.seg.nrrd) to score the proposal against (IoU/Dice per region, "
                        "on the labelled slices)")
    p.add_argument("--scores", type=Path, help="with --reference: write the scores and IoU bins (.csv or .xlsx)")
    p.add_argument("--bins-png", type=Path, help="with --reference: bar chart of the IoU bins")
    p.add_argument("--list", action="store_true", help="list the registered models and their cards, then exit")
    p.add_argument("--force", action="store_true", help="overwrite the output file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import io

    if args.list:
        from ..autolabel import default_registry

        reg = default_registry(user_dirs=args.models_dir)
        print(reg)
        for card in reg.cards():
            test = card.metrics.get("test", {})
            extra = f", test mean Dice {test['mean_dice']}" if "mean_dice" in test else ""
            print(f"  {card.name}: labels {', '.join(lab.name for lab in card.labels)}; input {card.input_spacing_mm} mm, "
                  f"window {card.window_hu} HU; {card.parameters} parameters{extra}")
        for p in reg.problems:
            print(f"  problem: {p}")
        return 0
    missing = [n for n, v in (("IMAGE", args.image), ("-o/--output", args.output), ("--model", args.model)) if not v]
    if missing:
        raise InputError(f"autolabel needs {', '.join(missing)} (or --list to see the models)")
    if not str(args.output).endswith(".seg.nrrd"):
        raise InputError(f"--output {args.output}: must end with .seg.nrrd")
    io.check_writable(args.output, args.force)
    for extra in (args.scores, args.bins_png) if args.reference else ():
        if extra:
            io.check_writable(extra, args.force)
    from ..autolabel import predict

    model = load_model(args)
    image = io.read_image(args.image)
    # read the reference before anything is written: a bad one must not leave a half-done run behind
    ref = io.read_segmentation(args.reference) if args.reference else None
    with tqdm_progress(f"autolabel {model.card.name}", not args.no_progress) as progress:
        labels = predict(image, model, slices=parse_slices(args.slices), progress=progress)
    io.write_seg_nrrd(labels, args.output, force=args.force)
    for seg in labels:
        print(f"{seg.name}: {seg.voxel_count} voxels")
    if args.reference:
        _score(labels, model.card.labels, args, ref)
    print(f"wrote {args.output} (status=proposed, model {model.card.model_id})")
    return 0


def _score(labels, card_labels, args: argparse.Namespace, ref) -> None:
    """Per-slice, per-region IoU/Dice of the proposal against ``--reference``; bins table and chart."""
    import pandas as pd

    from .. import io
    from ..autolabel import iou_bins, labelset_scores, plot_iou_bins
    from ..autolabel.dataset import match_segments

    found = match_segments(ref, card_labels)
    if not found:
        raise InputError(f"--reference {args.reference}: none of the segments {labels.names} found "
                         f"(reference has {ref.names})")
    renamed = ref.copy()
    for ours, theirs in found.items():
        if ours != theirs:
            renamed[theirs].name = ours
    frames = [labelset_scores(labels, renamed, names=list(found), case=f"slice {k}", slices=[k])
              for k in labels.meta["slices"]]
    scores = pd.concat(frames, ignore_index=True)
    table = iou_bins(scores)
    print(table.round(3).to_string())
    if args.scores:
        io.write_table(pd.concat([scores, table.reset_index(names="region").assign(case="IoU bins")]),
                       args.scores, force=args.force)
    if args.bins_png:
        plot_iou_bins(table, args.bins_png, force=args.force)

