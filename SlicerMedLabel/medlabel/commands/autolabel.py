"""`medlabel autolabel IMAGE --model M -o OUT.seg.nrrd`: model-predicted labels for review (status proposed)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ._autolabel_common import load_model, parse_slices, tqdm_progress


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
    from ..autolabel import predict

    model = load_model(args)
    image = io.read_image(args.image)
    with tqdm_progress(f"autolabel {model.card.name}", not args.no_progress) as progress:
        labels = predict(image, model, slices=parse_slices(args.slices), progress=progress)
    io.write_seg_nrrd(labels, args.output, force=args.force)
    for seg in labels:
        print(f"{seg.name}: {seg.voxel_count} voxels")
    print(f"wrote {args.output} (status=proposed, model {model.card.model_id})")
    return 0



