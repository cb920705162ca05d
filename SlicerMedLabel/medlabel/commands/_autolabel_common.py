"""Shared CLI helpers of the auto-label commands: slice specs, model lookup (progress: ``_progress``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError


def parse_slices(text: str | None):
    """``None`` (all), ``"12"`` (one slice), ``"10:15"`` (slab, stop exclusive) or ``"3,5,7"`` (list)."""
    if text is None or text.strip() in ("", "all"):
        return None
    try:
        if ":" in text:
            a, b = text.split(":")
            return (int(a), int(b))
        if "," in text:
            return [int(v) for v in text.split(",") if v.strip()]
        return int(text)
    except ValueError:
        raise InputError(f"--slices {text!r}: use N, START:STOP (stop exclusive) or N,M,K (0-based slice indices)") from None


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="registry name (see 'medlabel autolabel --list') or a path to a <name>.card.json")
    p.add_argument("--models-dir", type=Path, action="append", default=None,
                   help="folder of user-trained models (repeatable; default $MEDLABEL_MODELS or ~/.medlabel/models)")


def load_model(args: argparse.Namespace):
    """The model named by ``--model`` (a registry name, or a card file path)."""
    from ..autolabel import ModelCard, TorchUNetModel, default_registry

    if args.model.endswith(".card.json"):
        return TorchUNetModel(ModelCard.read(args.model))
    reg = default_registry(user_dirs=args.models_dir)
    return reg.get(args.model)


