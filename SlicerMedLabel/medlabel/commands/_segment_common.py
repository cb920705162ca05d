"""Shared parts of ``medlabel backproject`` and ``medlabel grabcut``: box parsing, seed masks,
the output label set with provenance tags, and the progress bar."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import InputError
from ..labels import TAG_SOURCE, TAG_STATUS, TAG_TIME, TAG_TOOL, TERMS, LabelSet, Status, Tool, now_iso

TAG_ALGORITHM = "MedLabel.Algorithm"
TAG_PARAMETERS = "MedLabel.Parameters"


def parse_ints(text: str, n: int, what: str) -> list[int]:
    parts = [p for p in str(text).replace(";", ",").split(",") if p.strip()]
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        raise InputError(f"{what} must be {n} integers separated by commas; got {text!r}") from None
    if len(vals) != n:
        raise InputError(f"{what} must be {n} integers separated by commas; got {len(vals)} in {text!r}")
    return vals


def parse_floats(text: str, n: int, what: str) -> list[float]:
    parts = [p for p in str(text).replace(";", ",").split(",") if p.strip()]
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        raise InputError(f"{what} must be {n} numbers separated by commas; got {text!r}") from None
    if len(vals) != n:
        raise InputError(f"{what} must be {n} numbers separated by commas; got {len(vals)} in {text!r}")
    return vals


def add_box_arguments(p: argparse.ArgumentParser, required: bool) -> None:
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--rect", metavar="K,Y0,Y1,X0,X1",
                   help="2-D rectangle on slice K: rows Y0..Y1-1, columns X0..X1-1 (array indices, 0-based)")
    g.add_argument("--box", metavar="Z0,Z1,Y0,Y1,X0,X1",
                   help="3-D box of array indices, each range half-open (Z0 <= z < Z1)")


def box_from_args(args: argparse.Namespace):
    from ..segment import Box

    if getattr(args, "rect", None):
        return Box.rect(*parse_ints(args.rect, 5, "--rect"))
    if getattr(args, "box", None):
        return Box(*parse_ints(args.box, 6, "--box"))
    return None


def read_mask(path: Path, segment: str | None, image, what: str) -> np.ndarray:
    """Union of the named segment (or of all segments) of a segmentation file, on the image grid."""
    from .. import io
    from ..labels import Geometry

    ls = io.read_segmentation(path)
    if not Geometry.of(image).matches(ls.geometry):
        raise InputError(f"{what} {path} is on grid {ls.geometry.shape} (spacing {ls.geometry.spacing_mm}); "
                         f"the image is {image.shape} (spacing {image.spacing_mm}). Draw it on this image")
    if segment:
        if segment not in ls:
            raise InputError(f"{what} {path} has no segment {segment!r}; segments: {', '.join(ls.names) or '(none)'}")
        return ls[segment].mask.copy()
    if len(ls) == 0:
        raise InputError(f"{what} {path} holds no segment")
    return np.any([s.mask for s in ls], axis=0)


def output_labelset(image, mask: np.ndarray, *, name: str, terminology: str | None, algorithm: str,
                    params: dict, source: str) -> LabelSet:
    if terminology is not None and terminology not in TERMS:
        raise InputError(f"unknown --terminology {terminology!r}; known: {', '.join(sorted(TERMS))}")
    ls = LabelSet(image)
    tags = {TAG_TOOL: Tool.SEMI_AUTOMATIC.value, TAG_STATUS: Status.DRAFT.value, TAG_TIME: now_iso(),
            TAG_SOURCE: source.replace("|", "/"), TAG_ALGORITHM: f"{algorithm} (medlabel {__version__})",
            TAG_PARAMETERS: json.dumps(params, sort_keys=True, default=str).replace("|", "/")}
    ls.add_mask(name, mask, terminology=terminology, tags=tags)
    return ls
