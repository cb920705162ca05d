#!/usr/bin/env python3
"""Render the module icon (128×128 PNG) from the synthetic L3 phantom with its truth overlay.

    python tools/make_icon.py            # writes SlicerMedLabel/Resources/Icons/SlicerMedLabel.png
    python tools/make_icon.py --force    # replace an existing icon
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "SlicerMedLabel"))

ICON = REPO / "SlicerMedLabel" / "Resources" / "Icons" / "SlicerMedLabel.png"
OVERLAY = ("skeletal_muscle", "subcutaneous_fat", "visceral_fat", "vertebra")


def render(size: int = 128) -> np.ndarray:
    """RGBA (size, size, 4) float image: phantom CT (window -160..240 HU) with coloured tissues, round mask."""
    from medlabel.phantom import make_l3_phantom

    image, truth = make_l3_phantom((1, 256, 256), (3.0, 1.6, 1.6), noise_hu=4.0)
    ct = np.clip((image.array[0].astype(float) + 160.0) / 400.0, 0, 1)
    rgb = np.repeat(ct[..., None], 3, axis=2)
    for name in OVERLAY:
        seg = truth[name]
        m = seg.mask[0]
        rgb[m] = 0.35 * rgb[m] + 0.65 * np.asarray(seg.color)
    # crop to the body and resample to the icon size (nearest, keeps crisp edges)
    body = truth["body"].mask[0]
    ys, xs = np.nonzero(body)
    half = int(max(ys.max() - ys.min(), xs.max() - xs.min()) / 2) + 6
    cy, cx = (ys.max() + ys.min()) // 2, (xs.max() + xs.min()) // 2
    idx = np.linspace(-half, half, size).round().astype(int)
    yy = np.clip(cy + idx, 0, rgb.shape[0] - 1)
    xx = np.clip(cx + idx, 0, rgb.shape[1] - 1)
    crop = rgb[np.ix_(yy, xx)]
    alpha = np.ones((size, size))
    r = np.hypot(*np.meshgrid(np.arange(size) - (size - 1) / 2, np.arange(size) - (size - 1) / 2))
    alpha[r > size / 2 - 1] = 0.0  # round icon
    background = np.array([0.08, 0.12, 0.2])
    crop = np.where(alpha[..., None] > 0, crop, background)
    return np.dstack([crop, alpha])


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="replace an existing icon")
    parser.add_argument("-o", "--output", type=Path, default=ICON)
    args = parser.parse_args(argv)
    if args.output.exists() and not args.force:
        print(f"{args.output} exists; pass --force to replace it", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".tmp.png")
    plt.imsave(tmp, render())
    tmp.replace(args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
