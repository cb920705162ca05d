"""`medlabel train FOLDER -o MODEL_DIR`: train (or fine-tune) the tissue U-Net on accepted labels."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ._progress import tqdm_progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a tissue model on a folder of images + accepted segmentations",
                       description="Train a 2-D U-Net on <case> images + <case>.seg.nrrd segmentations (only cases "
                                   "whose muscle/SAT/VAT/IMAT segments are accepted, or untagged manual labels). "
                                   "Patient-level train/validation split, augmentation, early stopping; resumable "
                                   "(rerun the same command); writes <name>.pt, <name>.card.json, "
                                   "learning_curve.png and history.csv to MODEL_DIR.")
    p.add_argument("folder", type=Path, help="folder of images and <case>.seg.nrrd segmentations")
    p.add_argument("-o", "--out", type=Path, required=True, help="model folder (e.g. ~/.medlabel/models/mymodel)")
    p.add_argument("--name", default="user-tissue-unet", help="model name in the registry (default %(default)s)")
    p.add_argument("--version", default="1", help="model version text (default %(default)s)")
    p.add_argument("--init-from", help="fine-tune from this model (registry name or <name>.card.json)")
    p.add_argument("--models-dir", type=Path, action="append", default=None, help="folder of user models (repeatable)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--patience", type=int, default=8, help="early stopping: epochs without validation gain")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps-per-epoch", type=int, default=None, help="default: one pass over the training slices")
    p.add_argument("--crop", type=int, default=128, help="training crop size on the model grid (pixels)")
    p.add_argument("--lr", type=float, default=2e-3, help="learning rate")
    p.add_argument("--base-channels", type=int, default=16)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--spacing-mm", type=float, default=2.0, help="in-plane spacing the network works at (mm)")
    p.add_argument("--val-fraction", type=float, default=0.25, help="fraction of patients for validation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a busy machine)")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--only-accepted", action="store_true",
                   help="ignore segments without a status tag (default: untagged segments count as manual labels)")
    p.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint in MODEL_DIR")
    p.add_argument("--force", action="store_true", help="overwrite a model of the same name in MODEL_DIR")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..autolabel import ModelCard, TorchUNetModel
    from ..autolabel.cards import tissue_labels
    from ..autolabel.dataset import load_training_folder
    from ..autolabel.training import TrainConfig, train_model

    init = None
    if args.init_from:
        if args.init_from.endswith(".card.json"):
            init = TorchUNetModel(ModelCard.read(args.init_from))
        else:
            from ..autolabel import default_registry

            init = default_registry(user_dirs=args.models_dir, include_rule_based=False).get(args.init_from)
    labels = init.card.labels if init is not None else tissue_labels()
    samples, report = load_training_folder(args.folder, labels, accept_untagged=not args.only_accepted)
    for row in report.itertuples():
        print(f"{row.case}: {'used, ' + str(row.slices) + ' slice(s)' if row.used else 'skipped: ' + row.reason}")
    if not samples:
        raise InputError(f"{args.folder}: no accepted labelled case to train on (see the list above)")
    cfg = TrainConfig(name=args.name, version=args.version, base_channels=args.base_channels, depth=args.depth,
                      input_spacing_mm=(args.spacing_mm, args.spacing_mm), labels=labels, epochs=args.epochs,
                      batch_size=args.batch_size, steps_per_epoch=args.steps_per_epoch, crop=args.crop,
                      learning_rate=args.lr, patience=args.patience, val_fraction=args.val_fraction,
                      augment=not args.no_augment, seed=args.seed, threads=args.threads,
                      training_data={"folder": str(args.folder), "cases_used": report.loc[report["used"], "case"].tolist()})
    with tqdm_progress(f"train {args.name}", not args.no_progress) as progress:
        result = train_model(samples, args.out, config=cfg, init_from=init, resume=not args.no_resume,
                             force=args.force, progress=progress)
    card = result.card
    print(f"best validation mean Dice {card.metrics['validation']['mean_dice']} at epoch "
          f"{card.training_data['best_epoch']} of {card.training_data['epochs_run']}")
    print(f"wrote {card.path}, {card.weights_path()}, {args.out / 'learning_curve.png'}")
    return 0
