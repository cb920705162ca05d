"""`medlabel backproject IMAGE --rect K,Y0,Y1,X0,X1 -o out.seg.nrrd`: histogram back projection.

The intensity histogram of a rectangle, box or segment finds every similar voxel in a slice, a
slab, the volume or inside a mask; the result is written as a one-segment ``.seg.nrrd`` (and the
likelihood map as an image when ``--likelihood`` is given).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._progress import tqdm_progress
from ._segment_common import (
    add_box_arguments,
    box_from_args,
    output_labelset,
    parse_floats,
    parse_ints,
    read_mask,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backproject", help="find all voxels similar to a drawn region (histogram back projection)",
        description="Back projection: the normalised intensity histogram of the ROI (rectangle, box or "
                    "segment) gives every voxel of the scope a likelihood; voxels at or above --threshold "
                    "form the output segment. Indices are array indices (z = slice, y = row, x = column).")
    p.add_argument("image", type=Path, help="CT/PET: DICOM folder or file, NIfTI, NRRD")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .seg.nrrd")
    add_box_arguments(p, required=False)
    p.add_argument("--roi-mask", type=Path, help="segmentation file whose segment is the ROI (instead of a box)")
    p.add_argument("--roi-segment", help="segment name in --roi-mask (default: all segments)")
    p.add_argument("--scope", choices=("slice", "slab", "volume", "mask"), default="volume",
                   help="where to search (default volume)")
    p.add_argument("--slice", type=int, help="slice index for --scope slice (default: the ROI's middle slice)")
    p.add_argument("--slab", metavar="START,STOP", help="slices START..STOP-1 for --scope slab")
    p.add_argument("--scope-mask", type=Path, help="segmentation file limiting --scope mask")
    p.add_argument("--scope-segment", help="segment name in --scope-mask (default: all segments)")
    p.add_argument("--bins", type=int, default=64, help="histogram bins over the ROI range (default 64)")
    p.add_argument("--bin-width", type=float, help="bin width in image units (HU); replaces --bins")
    p.add_argument("--window", metavar="LO,HI",
                   help="intensity window in image units; write --window=-29,150 when LO is negative")
    p.add_argument("--smoothing-mm", type=float, default=0.0, help="Gaussian sigma (mm) on the likelihood")
    p.add_argument("--threshold", type=float, default=0.1, help="relative likelihood 0..1 (default 0.1)")
    p.add_argument("--connected", action="store_true", help="keep only regions connected to the ROI")
    p.add_argument("--min-island-vox", type=int, default=0, help="remove islands smaller than this (voxels)")
    p.add_argument("--name", default="BackProjection", help="segment name (default BackProjection)")
    p.add_argument("--terminology", help="terminology key, e.g. skeletal_muscle, subcutaneous_fat, lesion")
    p.add_argument("--likelihood", type=Path, help="also write the likelihood map (.nrrd/.nii.gz)")
    p.add_argument("--series", help="SeriesInstanceUID when the DICOM folder holds several series")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import io
    from ..errors import InputError
    from ..segment import back_project

    io.check_writable(args.output, args.force)
    if args.likelihood:
        io.check_writable(args.likelihood, args.force)
    image = io.read_image(args.image, series_uid=args.series)
    roi = box_from_args(args)
    if roi is None:
        if args.roi_mask is None:
            raise InputError("give the ROI: --rect K,Y0,Y1,X0,X1, --box Z0,Z1,Y0,Y1,X0,X1 or --roi-mask FILE")
        roi = read_mask(args.roi_mask, args.roi_segment, image, "--roi-mask")
    elif args.roi_mask is not None:
        raise InputError("give either a box (--rect/--box) or --roi-mask, not both")
    scope_mask = read_mask(args.scope_mask, args.scope_segment, image, "--scope-mask") if args.scope_mask else None
    params = dict(scope=args.scope, slice_index=args.slice,
                  slab=parse_ints(args.slab, 2, "--slab") if args.slab else None,
                  bins=args.bins, bin_width=args.bin_width,
                  window=parse_floats(args.window, 2, "--window") if args.window else None,
                  smoothing_mm=args.smoothing_mm, threshold=args.threshold, connected_to_roi=args.connected,
                  min_island_vox=args.min_island_vox)
    with tqdm_progress("back projection") as progress:
        res = back_project(image.array, roi, spacing_mm=image.spacing_mm, scope_mask=scope_mask,
                           progress=progress, **params)
    roi_text = args.rect or args.box or f"{args.roi_mask}:{args.roi_segment or 'all'}"
    ls = output_labelset(image, res.mask, name=args.name, terminology=args.terminology,
                         algorithm="back projection", params={**params, "roi": roi_text},
                         source=f"{args.image}")
    io.write_seg_nrrd(ls, args.output, force=args.force)
    if args.likelihood:
        io.write_image(image.with_array(res.likelihood), args.likelihood, force=args.force)
    print(f"{args.output}: {int(res.mask.sum())} voxels "
          f"({res.mask.sum() * image.voxel_volume_mm3 / 1000.0:.2f} cm3) in segment {args.name!r}")
    return 0
