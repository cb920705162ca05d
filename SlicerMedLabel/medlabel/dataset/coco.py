"""COCO-style pieces: mask → polygons and back, boxes, windowing to 8-bit, and a format check.

Coordinates follow the COCO convention (Lin et al., "Microsoft COCO: Common Objects in Context",
ECCV 2014; data format at https://cocodataset.org/#format-data): x is the column, y the row, and
pixel ``(row r, column c)`` covers the square ``[c, c+1) x [r, r+1)``, so its centre is at
``(c + 0.5, r + 0.5)``. Polygons come from :func:`skimage.measure.find_contours` at level 0.5 (the
contour runs half-way between inside and outside pixel centres) shifted by +0.5 into that
convention. Boxes are ``[x, y, width, height]`` (COCO) and ``[x1, y1, x2, y2]`` (``bbox_xyxy``),
both in pixel-edge coordinates, so a single pixel at (r, c) has box ``[c, r, 1, 1]``.

COCO polygons cannot carry holes (pycocotools unions the polygons of one annotation). Outer
boundaries go to ``segmentation``; hole boundaries go to the extra key ``segmentation_holes``,
and :func:`polygons_to_mask` subtracts them, so a mask with holes round-trips; a plain COCO
reader sees the holes filled (``area`` always counts the true mask pixels).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError

#: CT window presets: name -> (centre HU, width HU)
WINDOWS: dict[str, tuple[float, float]] = {
    "soft_tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "bone": (400.0, 1800.0),
    "liver": (60.0, 160.0),
    "brain": (40.0, 80.0),
}


def _signed_area(rc: np.ndarray) -> float:
    """Shoelace signed area of a closed (N, 2) row/column polygon (positive = counter-clockwise in x, y)."""
    y, x = rc[:, 0], rc[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def mask_to_polygons(mask: np.ndarray, *, tolerance_px: float = 0.0) -> tuple[list[list[float]], list[list[float]]]:
    """Outer and hole boundaries of a 2-D mask as COCO polygons ``[x1, y1, x2, y2, ...]``.

    Parameters
    ----------
    mask : (Y, X) ndarray of bool
        One slice of a segment (rows = y, columns = x).
    tolerance_px : float
        Douglas-Peucker simplification tolerance in pixels (0 keeps every contour vertex).

    Returns
    -------
    outer, holes : list of list of float
        Flat ``x, y`` vertex lists in COCO pixel-edge coordinates (see the module docstring);
        polygons with fewer than 3 vertices are dropped. ``outer`` wind clockwise on screen in the
        (x right, y down) image frame as seen on screen, ``holes`` the other way.

    Examples
    --------
    >>> outer, holes = mask_to_polygons(np.pad(np.ones((2, 2), bool), 1))
    >>> outer
    [[2.5, 3.0, 3.0, 2.5, 3.0, 1.5, 2.5, 1.0, 1.5, 1.0, 1.0, 1.5, 1.0, 2.5, 1.5, 3.0]]
    """
    from skimage.measure import find_contours

    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise InputError(f"mask_to_polygons needs a 2-D (y, x) mask; got shape {mask.shape}")
    if not mask.any():
        return [], []
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    crop = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    padded = np.pad(crop, 1).astype(np.float32)  # closes contours that touch the border
    offset = np.array([rows[0] - 1.0, cols[0] - 1.0])
    outer: list[list[float]] = []
    holes: list[list[float]] = []
    for rc in find_contours(padded, 0.5, positive_orientation="high"):
        rc = rc + offset  # back to the slice's row/column indices
        if tolerance_px > 0:
            from skimage.measure import approximate_polygon  # imports scipy.signal: only when asked

            rc = approximate_polygon(rc, tolerance_px)
        if len(rc) > 1 and np.allclose(rc[0], rc[-1]):
            rc = rc[:-1]  # COCO polygons are implicitly closed
        if len(rc) < 3:
            continue
        flat = (rc[:, ::-1] + 0.5).ravel().round(3).tolist()
        # 'high' orientation: counter-clockwise (in row/col index space) around foreground islands
        (outer if _signed_area(rc) < 0 else holes).append(flat)
    return outer, holes


def polygons_to_mask(polygons: Sequence[Sequence[float]], shape: tuple[int, int],
                     holes: Sequence[Sequence[float]] = ()) -> np.ndarray:
    """Rasterise COCO polygons (pixel-edge coordinates) back to a (Y, X) bool mask.

    A pixel is inside when its centre lies inside an odd number of the given polygons, outer and
    holes together (even-odd rule), so islands inside holes are kept. Contours from
    :func:`mask_to_polygons` never cross, which makes this its exact inverse.

    Notes
    -----
    Scan-line even-odd fill (Foley, van Dam et al., *Computer Graphics: Principles and Practice*,
    2nd ed., section 3.6): every non-horizontal edge toggles, on each pixel row whose centre line
    it crosses (half-open in y), the pixels whose centre lies at or right of the crossing. Cost is
    O(edges x rows spanned + pixels), independent of the vertex count per pixel. A pixel centre
    exactly on an edge counts as inside on left edges and outside on right edges.
    """
    h, w = (int(v) for v in shape)
    counts = np.zeros((h, w + 1), np.int32)
    for poly in [*polygons, *holes]:
        xy = np.asarray(poly, float).reshape(-1, 2)
        if len(xy) < 3:
            raise InputError(f"a polygon needs at least 3 vertices (6 numbers); got {len(poly)} numbers")
        x0, y0 = xy[:, 0] - 0.5, xy[:, 1] - 0.5  # pixel (r, c) has its centre at index (r, c)
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        keep = y0 != y1
        x0, y0, x1, y1 = x0[keep], y0[keep], x1[keep], y1[keep]
        first = np.clip(np.ceil(np.minimum(y0, y1)), 0, h).astype(np.int64)
        stop = np.clip(np.ceil(np.maximum(y0, y1)), 0, h).astype(np.int64)
        n = np.maximum(stop - first, 0)
        if not n.any():
            continue
        edge = np.repeat(np.arange(len(n)), n)
        rows = first[edge] + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
        xs = x0[edge] + (rows - y0[edge]) * (x1[edge] - x0[edge]) / (y1[edge] - y0[edge])
        cols = np.clip(np.ceil(xs), 0, w).astype(np.int64)
        np.add.at(counts, (rows, cols), 1)
    return (np.cumsum(counts, axis=1)[:, :w] % 2).astype(bool)


def mask_bbox(mask: np.ndarray) -> tuple[list[float], list[float]]:
    """COCO ``[x, y, w, h]`` and ``[x1, y1, x2, y2]`` of a non-empty (Y, X) mask (pixel edges)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise InputError("mask_bbox: the mask is empty; empty masks get no annotation")
    x1, y1, x2, y2 = float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)
    return [x1, y1, x2 - x1, y2 - y1], [x1, y1, x2, y2]


def parse_window(window: str | tuple[float, float] | None) -> tuple[float, float] | str:
    """Normalise a window option: preset name, ``"centre,width"`` text, a pair, or ``"auto"``."""
    if window is None or (isinstance(window, str) and window.strip().lower() == "auto"):
        return "auto"
    if isinstance(window, str):
        key = window.strip().lower().replace("-", "_")
        if key in WINDOWS:
            return WINDOWS[key]
        try:
            centre, width = (float(v) for v in window.split(","))
        except ValueError:
            raise InputError(f"window {window!r}: use a preset ({', '.join(WINDOWS)}), 'auto', or "
                             "'centre,width' in HU such as '-600,1500'") from None
    else:
        centre, width = (float(v) for v in window)
    if width <= 0:
        raise InputError(f"window width must be > 0; got {width}")
    return centre, width


def window_limits(volume: np.ndarray, modality: str | None, window) -> tuple[float, float]:
    """Display range (low, high) for a volume: the given window, or ``auto``.

    ``auto``: CT → soft-tissue window (centre 40 HU, width 400 HU); other modalities (PET, MR) →
    0.5th to 99.5th percentile of the volume.
    """
    w = parse_window(window)
    if w == "auto":
        if (modality or "").upper() == "CT":
            w = WINDOWS["soft_tissue"]
        else:
            lo, hi = np.percentile(volume, [0.5, 99.5])
            return float(lo), float(hi if hi > lo else lo + 1.0)
    centre, width = w
    return centre - width / 2.0, centre + width / 2.0


def to_uint8(slice_values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Linear map of [low, high] to 0..255 (clipped), rounded, as uint8."""
    scaled = (np.asarray(slice_values, np.float64) - low) / (high - low) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


# -------------------------------------------------------------------------------------------------
# format check
# -------------------------------------------------------------------------------------------------
_IMAGE_KEYS = {"id": int, "file_name": str, "width": int, "height": int}
_ANN_KEYS = {"id": int, "image_id": int, "category_id": int, "bbox": list, "area": (int, float),
             "iscrowd": int, "segmentation": list}
_CAT_KEYS = {"id": int, "name": str, "supercategory": str}


def validate_coco(data: dict[str, Any]) -> list[str]:
    """Check a COCO dict as a pycocotools-style reader would use it; return a list of problems.

    Checks: top-level keys; the types of the keys ``pycocotools.coco.COCO`` reads (image id,
    width, height, file_name; annotation id, image_id, category_id, bbox of 4 numbers, area,
    iscrowd, polygon lists of >= 6 numbers of even length); unique ids and file names; every annotation refers to
    an existing image and category; boxes inside the image. An empty list means valid.
    """
    problems: list[str] = []
    for key in ("info", "images", "annotations", "categories"):
        if key not in data:
            problems.append(f"missing top-level key '{key}'")
    if problems:
        return problems

    def check(obj: dict, spec: dict, what: str) -> None:
        for k, t in spec.items():
            if k not in obj:
                problems.append(f"{what} lacks '{k}'")
            elif not isinstance(obj[k], t) or isinstance(obj[k], bool):
                problems.append(f"{what} '{k}' is {type(obj[k]).__name__}, expected {t}")

    images = {}
    file_names: set = set()
    for im in data["images"]:
        check(im, _IMAGE_KEYS, f"image {im.get('id')}")
        if im.get("id") in images:
            problems.append(f"duplicate image id {im.get('id')}")
        if im.get("file_name") in file_names:
            problems.append(f"image {im.get('id')}: file_name {im.get('file_name')!r} is used twice")
        file_names.add(im.get("file_name"))
        images[im.get("id")] = im
    cats = set()
    for c in data["categories"]:
        check(c, _CAT_KEYS, f"category {c.get('id')}")
        if c.get("id") in cats:
            problems.append(f"duplicate category id {c.get('id')}")
        cats.add(c.get("id"))
    seen = set()
    for a in data["annotations"]:
        what = f"annotation {a.get('id')}"
        check(a, _ANN_KEYS, what)
        if a.get("id") in seen:
            problems.append(f"duplicate annotation id {a.get('id')}")
        seen.add(a.get("id"))
        im = images.get(a.get("image_id"))
        if im is None:
            problems.append(f"{what} refers to missing image {a.get('image_id')}")
        if a.get("category_id") not in cats:
            problems.append(f"{what} refers to missing category {a.get('category_id')}")
        bbox = a.get("bbox", [])
        if len(bbox) != 4 or not all(isinstance(v, (int, float)) for v in bbox):
            problems.append(f"{what} bbox must be 4 numbers; got {bbox}")
        elif im is not None and isinstance(im.get("width"), int) and isinstance(im.get("height"), int) and (
                bbox[0] < 0 or bbox[1] < 0 or bbox[0] + bbox[2] > im["width"] + 1e-6
                                 or bbox[1] + bbox[3] > im["height"] + 1e-6 or bbox[2] <= 0 or bbox[3] <= 0):
            problems.append(f"{what} bbox {bbox} is empty or outside the {im['width']}x{im['height']} image")
        for poly in a.get("segmentation", []) if isinstance(a.get("segmentation"), list) else []:
            if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2:
                problems.append(f"{what} has a polygon that is not a flat list of >= 3 x,y pairs")
                break
    return problems
