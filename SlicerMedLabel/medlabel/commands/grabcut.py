"""`medlabel grabcut IMAGE --rect K,Y0,Y1,X0,X1 -o out.seg.nrrd`: GrabCut in a box (2-D or 3-D).

The box (and optional foreground/background stroke segmentations) is cut by iterated graph cuts;
the result is written as a one-segment ``.seg.nrrd`` with the parameters in its tags.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._progress import tqdm_progress
from ._segment_common import add_box_arguments, box_from_args, output_labelset, read_mask


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "grabcut", help="segment the object in a box (GrabCut with optional strokes)",
        description="GrabCut: voxels outside the box are background; intensity mixtures and a graph cut "
                    "find the object inside. --rect gives a 2-D cut on one slice, --box a 3-D cut. Strokes "
                    "(segmentation files) mark sure foreground/background. Indices are array indices.")
    p.add_argument("image", type=Path, help="CT/PET: DICOM folder or file, NIfTI, NRRD")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .seg.nrrd")
    add_box_arguments(p, required=False)
    p.add_argument("--fg-seeds", type=Path, help="segmentation file with foreground strokes")
    p.add_argument("--fg-segment", help="segment name in --fg-seeds (default: all segments)")
    p.add_argument("--bg-seeds", type=Path, help="segmentation file with background strokes")
    p.add_argument("--bg-segment", help="segment name in --bg-seeds (default: all segments)")
    p.add_argument("--iterations", type=int, default=5, help="fit/cut rounds (default 5)")
    p.add_argument("--smoothness", type=float, default=2.0, help="boundary weight (default 2)")
    p.add_argument("--geodesic", type=float, default=30.0, help="stroke geodesic weight (default 30; 0 = off)")
    p.add_argument("--smoothing-mm", type=float, default=0.0, help="sigma of a smoothed-intensity feature (mm)")
    p.add_argument("--components", type=int, default=4, help="Gaussians per mixture (default 4)")
    p.add_argument("--keep", choices=("auto", "largest", "seeded", "all"), default="auto",
                   help="connected parts to keep (default auto: seeded with strokes, else largest)")
    p.add_argument("--no-fill-holes", action="store_true", help="do not fill enclosed holes per slice")
    p.add_argument("--border-free", action="store_true",
                   help="do not treat the box outline as background (when the object reaches the box edge)")
    p.add_argument("--star-shape", action="store_true",
                   help="star-shape prior around the box centre (compact lesions, e.g. a necrotic lesion on PET)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the mixture sampling (default 0)")
    p.add_argument("--name", default="GrabCut", help="segment name (default GrabCut)")
    p.add_argument("--terminology", help="terminology key, e.g. lesion, nodule, skeletal_muscle")
    p.add_argument("--series", help="SeriesInstanceUID when the DICOM folder holds several series")
    p.add_argument("--force", action="store_true", help="overwrite the output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import io
    from ..segment import grabcut

    io.check_writable(args.output, args.force)
    image = io.read_image(args.image, series_uid=args.series)
    box = box_from_args(args)
    fg = read_mask(args.fg_seeds, args.fg_segment, image, "--fg-seeds") if args.fg_seeds else None
    bg = read_mask(args.bg_seeds, args.bg_segment, image, "--bg-seeds") if args.bg_seeds else None
    params = dict(iterations=args.iterations, smoothness=args.smoothness, geodesic=args.geodesic,
                  smoothing_mm=args.smoothing_mm, n_components=args.components, keep=args.keep,
                  fill_holes=not args.no_fill_holes, star_shape=args.star_shape,
                  border_is_background=not args.border_free, seed=args.seed)
    with tqdm_progress("GrabCut") as progress:
        mask = grabcut(image.array, box, spacing_mm=image.spacing_mm, fg_seeds=fg, bg_seeds=bg,
                       progress=progress, **params)
    box_text = args.rect or args.box or "whole image"
    ls = output_labelset(image, mask, name=args.name, terminology=args.terminology, algorithm="GrabCut",
                         params={**params, "box": box_text, "fg_seeds": str(args.fg_seeds or ""),
                                 "bg_seeds": str(args.bg_seeds or "")},
                         source=f"{args.image}")
    io.write_seg_nrrd(ls, args.output, force=args.force)
    print(f"{args.output}: {int(mask.sum())} voxels ({mask.sum() * image.voxel_volume_mm3 / 1000.0:.2f} cm3) "
          f"in segment {args.name!r}")
    return 0
