"""GrabCut for CT and PET, 2-D and 3-D: a box (optionally foreground/background strokes) cut by a graph.

Method (Rother, Kolmogorov & Blake, "GrabCut: interactive foreground extraction using iterated graph
cuts", ACM TOG 23(3):309-314, 2004), adapted to grayscale medical images:

* features per voxel: the intensity (HU / SUV) and, optionally, its Gaussian-smoothed value
  (``smoothing_mm``);
* foreground and background Gaussian mixtures (:mod:`.gmm`) fitted to the current labels (integer
  CT: on the exact histogram); the background model is learnt from a ring of
  ``background_margin_mm`` around the box plus background strokes, i.e. from the tissue next to the
  object, not from the whole scan;
* with foreground strokes: the first object model comes from the strokes, both models share one
  covariance (partial-volume voxels split half-way) and a geodesic term (Price, Morse & Cohen,
  CVPR 2010) lets the strokes reach along low-gradient paths;
* data cost ``-log p(feature | model)``; when the object is clearly brighter (or darker) than the
  tissue around the box, an *intensity-order prior* makes the foreground/background log-likelihood
  ratio a monotone function of intensity (isotonic regression, see :func:`_ordered_costs`);
  contrast-sensitive n-links scaled by voxel face area
  (:func:`.graphcut.neighbourhood`); exact minimum cut with PyMaxflow (Boykov-Kolmogorov);
* iterate fit -> cut until the labels stop changing or ``iterations`` is reached.

Large 3-D problems are solved coarse-to-fine (Lombaert, Sun, Grady & Xu, "A multilevel banded graph
cuts method for fast image segmentation", ICCV 2005): the iterations run on a block-averaged grid,
then one full-resolution cut refines a narrow band around the up-sampled boundary.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from ..errors import InputError
from ._common import (
    Box,
    Progress,
    _no_progress,
    check_image,
    check_mask,
    check_spacing,
    keep_connected_to,
    largest_component,
)
from ._common import fill_holes as fill_holes_
from .gmm import GaussianMixture, fit_gmm
from .graphcut import contrast_beta, solve_cut

#: variance floor of the smoothed-intensity feature as a fraction of the image noise (see _var_floor).
#: Without it noisy synthetic objects get a one-voxel shell (Dice 0.92 on an ellipsoid); see
#: docs/benchmarks/segment.md for its effect on the reference sets.
SMOOTH_NOISE_FRACTION = 0.5
#: |Cohen's d| between the foreground and background mixtures of a round above which
#: ``intensity_order='auto'`` assumes the object is brighter (or darker) than its surroundings
ORDER_EFFECT_SIZE = 1.0
#: ``star_shape='auto'`` turns the star-shape prior on when no side of the box is longer than this
#: many voxels (a small object at the image resolution: a nodule, a lymph node, a PET lesion)
STAR_AUTO_MAX_VOX = 48
#: mixture fitting budget: samples per model (non-integer or 2-feature data; integer HU use their exact
#: histogram), EM steps of the first fit and of each warm-started refit
GMM_SAMPLES, EM_FIRST, EM_NEXT = 8000, 10, 3


def grabcut(image: np.ndarray, box: Box | None = None, *, spacing_mm: Sequence[float],
            fg_seeds: np.ndarray | None = None, bg_seeds: np.ndarray | None = None,
            iterations: int = 5, smoothness: float = 2.0, contrast: float = 1.0, geodesic: float = 30.0,
            n_components: int = 4, smoothing_mm: float = 0.0, background_margin_mm: float | None = None,
            max_graph_voxels: int = 400_000, keep: str = "auto", fill_holes: bool = True,
            star_shape: bool | str = "auto", border_is_background: bool = True, intensity_order: str = "auto",
            seed: int = 0, progress: Progress | None = None) -> np.ndarray:
    """Segment the object in ``box`` by iterated graph cuts.

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) ndarray
        CT in HU or PET (SUV, Bq/ml); a 2-D slice (or a one-slice box) gives a 2-D cut with the
        8-neighbourhood, a volume box a 3-D cut with the 6-neighbourhood.
    box : Box, optional
        Voxels outside it are background (``Box.rect`` for one slice). None = the whole image.
        When nothing lies outside the box and there are no ``bg_seeds``, the image's outer voxel
        layer is taken as background. A box sticking out of the image is clipped.
    spacing_mm : (3,) or (2,) sequence of float
        Voxel size z, y, x (or y, x) in mm; weights and smoothing use it (anisotropic voxels).
    fg_seeds, bg_seeds : ndarray of bool, optional
        Strokes (same shape as ``image``): hard foreground / background labels. They may lie
        outside the box (foreground strokes there are kept as foreground).
    iterations : int
        Maximum fit -> cut rounds (>= 1).
    smoothness : float
        GrabCut's gamma: weight of the boundary term against the data term.
    geodesic : float
        Weight of the geodesic data term used when ``fg_seeds`` are given (0 = off): voxels closer,
        along low-gradient paths, to the foreground strokes than to the background (outside the
        box, box border strokes) lean to foreground (Price et al., CVPR 2010). It is what lets strokes
        separate an object that is isodense with its surroundings.
    contrast : float
        Multiplier of the automatic edge sensitivity ``beta`` (1 = Rother's choice; larger makes the
        boundary stick more to strong intensity edges).
    n_components : int
        Gaussians per mixture (foreground and background).
    smoothing_mm : float
        Sigma (mm) of an optional second feature, the Gaussian-smoothed intensity; 0 (default) uses
        the intensity alone. Smoothing helps noisy PET a little (box-only Dice 0.70 -> 0.75 on
        STS_001 with ~3 mm) but blends values across edges, which can add a one-voxel shell
        (see docs/benchmarks/segment.md).
    background_margin_mm : float, optional
        Width of the ring outside the box whose voxels train the background model (and may be
        labelled). Default: half the box's largest side, clamped to 10..30 mm.
    max_graph_voxels : int
        Above this many unknown voxels the cut runs coarse-to-fine (see module notes).
    keep : {'auto', 'largest', 'seeded', 'all'}
        Which connected parts of the cut to keep (26-connected in 3-D, 8 in a slice): the largest,
        those touching a foreground stroke, or all. 'auto' = 'seeded' with strokes, else 'largest'
        (a box holds one object; vessels cut off inside it are dropped).
    fill_holes : bool
        Fill enclosed holes slice by slice (a lesion contour includes its necrotic core).
    star_shape : bool or 'auto'
        Star-shape prior (Veksler, ECCV 2008) as a second stage: after the ordinary cut, the cut is
        repeated with every voxel's path to a centre forced into the object, so holes and notches
        open to the outside close (a lesion with a necrotic core on PET). Centre: the centroid of the
        foreground strokes, else the box centre when it lies in the convex hull of the first cut,
        else that cut's deepest voxel. If the constrained cut comes out empty the first cut is kept.
        It is a shape assumption, right for compact lesions, wrong for muscle or fat. 'auto'
        (default) turns it on for a box without foreground strokes (strokes carry the shape) and
        with no side longer than ``STAR_AUTO_MAX_VOX`` (48)
        voxels, i.e. an object only a few dozen voxels across at the image's resolution (on the
        issue-8 reference sets it never lowered a set's mean Dice: LIDC nodule 0.857 -> 0.861,
        STS_001 PET 0.705 -> 0.769; the 87 mm phantom vertebra and most sarcoma CT boxes are larger
        and unchanged; see docs/benchmarks/segment.md).
    border_is_background : bool
        The box's own outline (one voxel thick, on every side that lies inside the image) is hard
        background: a drawn box encloses the object. This keeps a loose box from flipping object
        and background when the box holds mostly background tissue. Sides clipped by the image
        edge are not constrained (the object may touch the image edge).
    intensity_order : {'auto', 'brighter', 'darker', 'none'}
        Intensity-order prior on the data term (intensity feature only): with 'brighter' a voxel
        never looks more like background than a darker voxel does (a hot PET lesion, a nodule in
        lung, bone), with 'darker' the reverse; the log-likelihood ratio of the two mixtures is
        replaced by its least-squares monotone fit in intensity (isotonic regression). It removes
        the non-monotone ratios that a mixture learnt from a box produces, e.g. a dark voxel
        favoured as object because the box held some lung. 'auto' (default) decides in every
        fit -> cut round from that round's mixtures: 'brighter' when the foreground mixture's mean exceeds the background's by at
        least ``ORDER_EFFECT_SIZE`` (1.0) pooled standard deviations (Cohen's d), 'darker' when it
        is below by as much, else no prior (an isodense object such as a sarcoma in muscle).
        Ignored with ``smoothing_mm > 0``.
    seed : int
        Seed of the mixture sub-sampling: the same inputs and seed give the same mask.
    progress : callable(fraction, text), optional

    Returns
    -------
    ndarray of bool, same shape as ``image``
        Foreground mask: never outside the box except where ``fg_seeds`` are; always True on
        ``fg_seeds`` and False on ``bg_seeds``.

    Notes
    -----
    * Draw the box tight (a few voxels of margin). The object model is learnt from the box: when
      the object fills only a small part of a loose box and the ring around the box holds tissue
      like the object (a nodule near the chest wall), the two mixtures can swap. In 3-D, vessels
      touching a nodule may join it; a background stroke removes them.
    * Constant image (inside the working region): there is no intensity evidence, so the result
      is the box with the strokes applied (fg strokes added, bg strokes removed).
    * Overlapping foreground and background strokes raise :class:`InputError`.

    Examples
    --------
    >>> img = np.zeros((40, 40), np.float32); img[10:30, 12:28] = 100.0
    >>> m = grabcut(img, Box.rect(0, 5, 35, 5, 35), spacing_mm=(1.0, 1.0))
    >>> int(m.sum()) == 20 * 16
    True
    """
    progress = progress or _no_progress
    img = check_image(image).astype(np.float32, copy=False)
    sp = check_spacing(spacing_mm)
    shape = img.shape
    if box is None:
        box = Box(0, shape[0], 0, shape[1], 0, shape[2])
        border_is_background = False
    if not isinstance(box, Box):
        raise InputError(f"box must be a medlabel.segment.Box (or None for the whole image); got {type(box).__name__}")
    box = box.check(shape, "box")
    fg = check_mask(fg_seeds, shape, "fg_seeds")
    bg = check_mask(bg_seeds, shape, "bg_seeds")
    if fg is not None and bg is not None and (fg & bg).any():
        raise InputError(f"fg_seeds and bg_seeds overlap in {int((fg & bg).sum())} voxels; erase one of the strokes there")
    if keep not in ("auto", "largest", "seeded", "all"):
        raise InputError(f"keep {keep!r} is not valid; valid values are 'auto', 'largest', 'seeded', 'all'")
    if int(iterations) < 1:
        raise InputError(f"iterations must be >= 1; got {iterations}")
    if not smoothness >= 0:
        raise InputError(f"smoothness must be >= 0; got {smoothness}")
    if smoothing_mm < 0:
        raise InputError(f"smoothing_mm must be >= 0 mm; got {smoothing_mm}")
    if geodesic < 0:
        raise InputError(f"geodesic must be >= 0; got {geodesic}")
    if not (star_shape == "auto" or isinstance(star_shape, (bool, np.bool_))):
        raise InputError(f"star_shape must be True, False or 'auto'; got {star_shape!r}")
    if intensity_order not in ("auto", "brighter", "darker", "none"):
        raise InputError(f"intensity_order {intensity_order!r} is not valid; valid values are 'auto', 'brighter', "
                         "'darker', 'none'")

    # working region: the box (plus strokes) grown by the background ring, on active axes only
    in_plane = box.z1 - box.z0 == 1 and shape[0] > 1   # one slice of a volume: a 2-D cut
    if background_margin_mm is None:
        side_mm = max((box.z1 - box.z0) * sp[0] * (not in_plane), (box.y1 - box.y0) * sp[1],
                      (box.x1 - box.x0) * sp[2])
        background_margin_mm = min(30.0, max(10.0, 0.5 * side_mm))
    margin = [0 if in_plane and a == 0 else int(np.ceil(background_margin_mm / sp[a])) for a in range(3)]
    region = box.grown(margin, shape)
    for s in (fg, bg):
        if s is not None and s.any():
            sb = Box.of_mask(s)
            if in_plane:
                sb = Box(box.z0, box.z1, sb.y0, sb.y1, sb.x0, sb.x1)
            region = Box(min(region.z0, sb.z0), max(region.z1, sb.z1), min(region.y0, sb.y0),
                         max(region.y1, sb.y1), min(region.x0, sb.x0), max(region.x1, sb.x1))
    sl = region.slices
    crop = img[sl]
    in_box = np.zeros(crop.shape, bool)
    in_box[box.z0 - region.z0:box.z1 - region.z0, box.y0 - region.y0:box.y1 - region.y0,
           box.x0 - region.x0:box.x1 - region.x0] = True
    fg_c = fg[sl] if fg is not None else np.zeros(crop.shape, bool)
    bg_c = bg[sl] if bg is not None else np.zeros(crop.shape, bool)

    out = np.zeros(shape, bool)
    if float(crop.max()) == float(crop.min()):  # no intensity evidence: the box with the strokes applied
        out[sl] = (in_box | fg_c) & ~bg_c
        progress(1.0, "GrabCut done (constant image)")
        return out.reshape(np.shape(image))
    if border_is_background:
        bg_c = bg_c | (_box_outline(box, region, shape, in_plane) & ~fg_c)
    if star_shape == "auto":
        star_shape = (not fg_c.any()
                      and max(n for a, n in enumerate(box.shape) if not (in_plane and a == 0)) <= STAR_AUTO_MAX_VOX)
    res = _grabcut_region(crop, in_box, fg_c, bg_c, sp, iterations=int(iterations), smoothness=float(smoothness),
                          contrast=float(contrast), geodesic=float(geodesic), n_components=int(n_components),
                          smoothing_mm=float(smoothing_mm), max_graph_voxels=int(max_graph_voxels), seed=int(seed),
                          progress=progress, order=intensity_order,
                          star_center=_star_center(box, fg_c, region) if star_shape else None)
    res = _postprocess(res, fg_c, bg_c, keep=keep, fill=fill_holes)
    out[sl] = res
    progress(1.0, "GrabCut done")
    return out.reshape(np.shape(image))


def _box_outline(box: Box, region: Box, shape, in_plane: bool) -> np.ndarray:
    """One-voxel outline of ``box`` in crop coordinates, on the sides that lie inside the image."""
    out = np.zeros(region.shape, bool)
    z0, z1, y0, y1, x0, x1 = (box.z0 - region.z0, box.z1 - region.z0, box.y0 - region.y0, box.y1 - region.y0,
                              box.x0 - region.x0, box.x1 - region.x0)
    zs = slice(z0, z1)
    if box.y0 > 0:
        out[zs, y0, x0:x1] = True
    if box.y1 < shape[1]:
        out[zs, y1 - 1, x0:x1] = True
    if box.x0 > 0:
        out[zs, y0:y1, x0] = True
    if box.x1 < shape[2]:
        out[zs, y0:y1, x1 - 1] = True
    if not in_plane and box.z1 - box.z0 > 2:
        if box.z0 > 0:
            out[z0, y0:y1, x0:x1] = True
        if box.z1 < shape[0]:
            out[z1 - 1, y0:y1, x0:x1] = True
    return out


def _star_center(box: Box, fg_c: np.ndarray, region: Box) -> tuple[float, float, float]:
    """Star centre in crop indices: the centroid of the foreground strokes, else the box centre."""
    if fg_c.any():
        return tuple(float(c) for c in ndi.center_of_mass(fg_c))
    return ((box.z0 + box.z1 - 1) / 2 - region.z0, (box.y0 + box.y1 - 1) / 2 - region.y0,
            (box.x0 + box.x1 - 1) / 2 - region.x0)


def _inner_center(core: np.ndarray, preferred, sp) -> tuple[float, float, float]:
    from skimage.morphology import convex_hull_image

    active = [a for a in range(3) if core.shape[a] > 1]
    squeezed = core.reshape([core.shape[a] for a in active])
    hull = convex_hull_image(squeezed) if squeezed.ndim >= 2 else squeezed
    p = np.clip(np.rint(preferred).astype(int), 0, np.array(core.shape) - 1)
    if hull[tuple(p[a] for a in active)]:
        return tuple(float(v) for v in preferred)
    dist = ndi.distance_transform_edt(core, sampling=[s if n > 1 else 1.0 for s, n in zip(sp, core.shape, strict=True)])
    return tuple(float(v) for v in np.unravel_index(int(np.argmax(dist)), dist.shape))


def _postprocess(mask: np.ndarray, fg_c: np.ndarray, bg_c: np.ndarray, *, keep: str, fill: bool) -> np.ndarray:
    """Connected-part rule and hole filling, computed inside the bounding box of the mask only."""
    if not mask.any():
        return mask | fg_c
    bb = Box.of_mask(mask | fg_c).slices
    m, f, b = mask[bb], fg_c[bb], bg_c[bb]
    if keep == "auto":
        keep = "seeded" if f.any() else "largest"
    if keep == "largest":
        m = largest_component(m)
    elif keep == "seeded" and f.any():
        m = keep_connected_to(m, f)
    if fill:
        m = fill_holes_(m, per_slice=True) & ~b
    out = np.zeros_like(mask)
    out[bb] = m
    return out | fg_c


def _features(crop: np.ndarray, sp: Sequence[float], smoothing_mm: float) -> np.ndarray:
    """(Z, Y, X, d) float32 features: intensity and, when smoothing_mm > 0, its Gaussian-smoothed value."""
    if smoothing_mm <= 0:
        return crop[..., None]
    sigma = [smoothing_mm / s if crop.shape[a] > 1 else 0.0 for a, s in enumerate(sp)]
    sm = ndi.gaussian_filter(crop, sigma, mode="nearest")
    return np.stack([crop, sm], axis=-1)


def _var_floor(feat: np.ndarray, noise_frac: float) -> np.ndarray:
    """Variance floor per feature (computed on a sub-grid of the region).

    Intensity: 1e-4 of its variance (never 0). Smoothed intensity: in addition
    ``(noise_frac * noise)^2``, with ``noise`` the robust spread (1.4826 MAD) of intensity minus
    smoothed intensity. Smoothing removes most noise, so without this floor the voxels next to an
    edge, whose smoothed value is a blend of both sides, look impossible under the background model.
    """
    step = max(1, int(round((feat[..., 0].size / 1e6) ** (1 / 3))))
    sub = feat[::step, ::step, ::step] if feat.shape[0] > 1 else feat[:, ::step, ::step]
    flat = sub.reshape(-1, feat.shape[-1]).astype(np.float64)
    floor = np.maximum(flat.var(axis=0) * 1e-4, 1e-6)
    if feat.shape[-1] > 1 and noise_frac > 0:
        r = flat[:, 0] - flat[:, 1]
        noise = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        floor[1:] += (noise_frac * noise) ** 2
    return floor


def _border_layer(shape: Sequence[int]) -> np.ndarray:
    m = np.zeros(shape, bool)
    for a in range(3):
        if shape[a] > 1:
            idx = [slice(None)] * 3
            idx[a] = 0
            m[tuple(idx)] = True
            idx[a] = -1
            m[tuple(idx)] = True
    return m


def _sample(feat: np.ndarray, mask: np.ndarray, n_max: int, seed: int, integer: bool = False
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """Training data of a mixture: (samples (n, d), weights or None).

    One ``integer``-valued feature (CT in HU): the exact histogram of all voxels of ``mask`` (distinct
    values and counts). Otherwise up to ``n_max`` random rows (seeded).
    """
    d = feat.shape[-1]
    if d == 1:
        v = feat[..., 0][mask]
        if integer and v.size:
            lo = float(v.min())
            counts = np.bincount((v - lo).astype(np.int64))
            vals = np.nonzero(counts)[0]
            return (vals + lo).astype(np.float64)[:, None], counts[vals].astype(np.float64)
        if v.size > n_max:
            v = v[np.random.default_rng(seed).integers(0, v.size, n_max)]
        return v[:, None], None
    idx = np.flatnonzero(mask)
    if idx.size > n_max:
        idx = idx[np.random.default_rng(seed).integers(0, idx.size, n_max)]
    return feat.reshape(-1, d)[idx], None


def _is_integer_valued(a: np.ndarray) -> bool:
    """True when every value is a whole number within a 65536-wide range (checked on a sub-grid first)."""
    sub = a.reshape(-1)[:: max(1, a.size // 200_000)]
    if not np.array_equal(sub, np.round(sub)):
        return False
    return bool(np.array_equal(a, np.round(a)) and float(a.max()) - float(a.min()) < 65536)


def _grabcut_region(crop, in_box, fg_c, bg_c, sp, *, iterations, smoothness, contrast, geodesic, n_components,
                    smoothing_mm, max_graph_voxels, seed, progress, star_center=None, order="auto") -> np.ndarray:
    feat = _features(crop, sp, smoothing_mm)
    floor = _var_floor(feat, SMOOTH_NOISE_FRACTION)
    if not (~(in_box | fg_c) | bg_c).any():
        # box = whole region and no background stroke: nothing anchors the background, so the image's
        # outer voxel layer is taken as background (the object must not touch the image border)
        bg_c = bg_c | (_border_layer(crop.shape) & ~fg_c)
        if not bg_c.any():
            return in_box | fg_c
    fixed_fg = fg_c.copy()
    free = in_box & ~fg_c & ~bg_c
    labels = (in_box | fg_c) & ~bg_c          # Rother's start: the box (and fg strokes) are foreground
    bg_train = ~labels
    full_beta = contrast_beta(crop, seed=seed)
    beta = full_beta * contrast
    opts = dict(smoothness=smoothness, n_components=n_components, seed=seed, beta=beta, sp=sp, floor=floor,
                star_center=star_center, order=order if feat.shape[-1] == 1 else "none")
    if int(free.sum()) > max_graph_voxels and min(crop.shape) > 1:
        return _multilevel(crop, feat, free, fixed_fg, labels, bg_train, fg_c, iterations=iterations,
                           geodesic=geodesic, max_graph_voxels=max_graph_voxels, progress=progress,
                           full_beta=full_beta, **opts)
    # with foreground strokes the first foreground model comes from the strokes (the user's evidence),
    # both models share one covariance and the geodesic term adds the strokes' reach
    geo = None
    if fg_c.any() and geodesic > 0:
        geo = _geodesic_costs(feat[..., -1], free, fg_c, ~free & ~fg_c, sp, weight=geodesic)
    star = opts.pop("star_center")
    labels, _, _, opts["order"] = _iterate(crop, feat, free, fixed_fg, labels, bg_train, iterations=iterations,
                                           progress=progress, fg_train=fg_c if fg_c.any() else None,
                                           pooled=bool(fg_c.any()), geo=geo, **opts)
    if star is not None and labels.any():
        # star-shape refinement around the box centre when it lies within the convex hull of the
        # unconstrained result (e.g. a necrotic core inside a bright rim), else around that result's
        # deepest voxel; with strokes, around their centroid
        if not fg_c.any():
            star = _inner_center(largest_component(labels), star, sp)
        starred, _, _, _ = _iterate(crop, feat, free, fixed_fg, labels, ~labels, iterations=max(1, iterations // 2),
                                 progress=progress, pooled=bool(fg_c.any()), geo=geo, star_center=star, **opts)
        # a centre whose own voxels look like background empties the star: keep the unconstrained cut then
        if starred.sum() > fixed_fg.sum():
            labels = starred
    return labels


def _iterate(crop, feat, free, fixed_fg, labels, bg_train, *, iterations, smoothness, n_components, seed, beta, sp,
             floor, progress, fg_train=None, pooled=False, geo=None, star_center=None, order="none"):
    """Rother's loop: fit both mixtures to the current labels, cut, repeat until the labels are stable.

    ``fg_train`` (default ``labels``) and ``bg_train`` are the voxels of the first fit; later rounds
    fit to the labels of the previous cut (mixtures warm-started from the previous round).
    ``order`` is the intensity-order prior ('auto' is decided again in every round, from that
    round's mixtures); returns ``(labels, fg_model, bg_model, order)`` with the order of the last round.
    """
    d = feat.shape[-1]
    flat = np.flatnonzero(free)
    x_free = feat.reshape(-1, d)[flat]
    integer = d == 1 and _is_integer_valued(feat)
    fg_model = bg_model = None
    fg_train = labels if fg_train is None else fg_train
    resolved = "none" if order == "auto" else order
    for it in range(iterations):
        fg_x, fg_w = _sample(feat, fg_train, GMM_SAMPLES, seed + it, integer)
        bg_x, bg_w = _sample(feat, bg_train, GMM_SAMPLES, seed + 1000 + it, integer)
        if fg_x.shape[0] == 0 or bg_x.shape[0] == 0:
            break
        fg_model = fit_gmm(fg_x, n_components=n_components, min_var=floor, seed=seed + it, init=fg_model,
                           n_iter=EM_FIRST if fg_model is None else EM_NEXT, sample_weight=fg_w)
        bg_model = fit_gmm(bg_x, n_components=n_components, min_var=floor, seed=seed + 1000 + it, init=bg_model,
                           n_iter=EM_FIRST if bg_model is None else EM_NEXT, sample_weight=bg_w)
        n_fg = fg_x.shape[0] if fg_w is None else fg_w.sum()
        n_bg = bg_x.shape[0] if bg_w is None else bg_w.sum()
        fg_use, bg_use = _pool(fg_model, bg_model, n_fg, n_bg) if pooled else (fg_model, bg_model)
        now = _decide_order(fg_model, bg_model) if order == "auto" else order
        resolved = now
        if now in ("brighter", "darker"):
            cost_fg, cost_bg = _ordered_costs(x_free[:, 0], fg_use, bg_use, brighter=now == "brighter")
        else:
            cost_fg = -fg_use.log_likelihood(x_free)
            cost_bg = -bg_use.log_likelihood(x_free)
        if geo is not None:
            cost_fg = cost_fg + geo[0]
            cost_bg = cost_bg + geo[1]
        new = solve_cut(free, fixed_fg, cost_fg, cost_bg, crop, sp, beta=beta, smoothness=smoothness,
                        free_index=flat, star_center=star_center)
        changed = int(np.count_nonzero(new.ravel()[flat] != labels.ravel()[flat]))
        labels = new
        fg_train, bg_train = labels, ~labels
        progress(0.1 + 0.8 * (it + 1) / iterations, f"GrabCut iteration {it + 1}/{iterations}")
        if changed <= 1e-3 * max(1, flat.size):  # stable (at most 0.1 % of the unknown voxels moved)
            break
    return labels, fg_model, bg_model, resolved


def _decide_order(fg: GaussianMixture, bg: GaussianMixture) -> str:
    """'brighter' / 'darker' / 'none' from Cohen's d of the two mixtures' first feature.

    ``d = (mean_fg - mean_bg) / sqrt((var_fg + var_bg) / 2)`` with the mixtures' overall means and
    variances (law of total variance); ``|d| >= ORDER_EFFECT_SIZE`` (1.0, a "large" effect in
    Cohen's terms: J. Cohen, *Statistical Power Analysis for the Behavioral Sciences*, 2nd ed.,
    1988) picks the direction.
    """
    def mean_var(g: GaussianMixture) -> tuple[float, float]:
        m = float(g.weights @ g.means[:, 0])
        return m, float(g.weights @ (g.covariances[:, 0, 0] + (g.means[:, 0] - m) ** 2))

    (mf, vf), (mb, vb) = mean_var(fg), mean_var(bg)
    sd = np.sqrt(0.5 * (vf + vb))
    if not sd > 0:
        return "none"
    d = (mf - mb) / sd
    return "brighter" if d >= ORDER_EFFECT_SIZE else ("darker" if d <= -ORDER_EFFECT_SIZE else "none")


def _ordered_costs(values: np.ndarray, fg: GaussianMixture, bg: GaussianMixture, *, brighter: bool
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Data costs whose log-likelihood ratio is monotone in intensity.

    The ratio ``r(v) = log p(v | fg) - log p(v | bg)`` is evaluated at the distinct values ``v`` of
    the free voxels and replaced by its weighted least-squares non-decreasing fit in ``v``
    (non-increasing for ``brighter=False``), weights = voxel counts, by the pool-adjacent-violators
    algorithm (Ayer et al., Ann Math Stat 26(4):641-647, 1955; ``scipy.optimize.isotonic_regression``).
    The costs are then ``max(0, -r)`` for foreground and ``max(0, r)`` for background (only their
    difference matters to the cut).

    Parameters
    ----------
    values : (m,) ndarray of float
        Intensity of each free voxel.
    fg, bg : GaussianMixture
        One-feature mixtures (the ones used for the ordinary costs).
    brighter : bool
        True: the object is brighter than the background.

    Returns
    -------
    cost_fg, cost_bg : (m,) ndarray of float64
    """
    from scipy.optimize import isotonic_regression

    uniq, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    r = fg.log_likelihood(uniq[:, None]) - bg.log_likelihood(uniq[:, None])
    fit = isotonic_regression(r, weights=counts.astype(np.float64), increasing=bool(brighter)).x
    llr = np.asarray(fit, np.float64)[inverse.ravel()]
    return np.maximum(0.0, -llr), np.maximum(0.0, llr)


def _geodesic_costs(intensity, free, fg_seed, bg_seed, sp, *, weight):
    """Geodesic data term (Price, Morse & Cohen, "Geodesic graph cut for interactive image segmentation",
    CVPR 2010): each free voxel pays ``weight * d_fg / (d_fg + d_bg)`` to be foreground and
    ``weight * d_bg / (d_fg + d_bg)`` to be background, where ``d`` is the minimal path cost to the
    strokes through the intensity gradient (skimage's MCP_Geometric with the voxel spacing); the
    local cost is ``0.05 + |grad I| / mean |grad I|`` over the free voxels."""
    from skimage.graph import MCP_Geometric

    active = [a for a in range(3) if intensity.shape[a] > 1]
    img = intensity.astype(np.float64)
    grad = np.zeros(intensity.shape, np.float64)
    for a in active:
        g = np.gradient(img, sp[a], axis=a)
        grad += g * g
    grad = np.sqrt(grad)
    mean = float(grad[free].mean()) if free.any() else 0.0
    cost = 0.05 + (grad / mean if mean > 0 else 0.0)
    sq = tuple(a for a in range(3) if a not in active)
    c = np.squeeze(cost, axis=sq) if sq else cost
    samp = [sp[a] for a in active]

    def dist(seeds):
        pts = np.argwhere(np.squeeze(seeds, axis=sq) if sq else seeds)
        if len(pts) == 0:
            return np.full(intensity.shape, np.inf)
        d, _ = MCP_Geometric(c, sampling=samp).find_costs([tuple(p) for p in pts])
        return d.reshape(intensity.shape)

    d_fg, d_bg = dist(fg_seed), dist(bg_seed)
    tot = d_fg + d_bg
    with np.errstate(invalid="ignore", divide="ignore"):
        p_bg = np.where(tot > 0, d_fg / tot, 0.5)
    p_bg = np.nan_to_num(p_bg, nan=0.5, posinf=1.0)[free]
    return weight * p_bg, weight * (1.0 - p_bg)


def _pool(fg: GaussianMixture, bg: GaussianMixture, n_fg: int, n_bg: int) -> tuple[GaussianMixture, GaussianMixture]:
    """Both mixtures with one shared covariance: the sample-weighted mean of all component covariances.

    With equal covariances the decision between the nearest foreground and background components
    falls half-way between their means, which is where a partial-volume voxel that is half object
    lies; unequal variances push the boundary into the narrower class.
    """
    wf = fg.weights * n_fg
    wb = bg.weights * n_bg
    cov = (np.tensordot(wf, fg.covariances, 1) + np.tensordot(wb, bg.covariances, 1)) / (wf.sum() + wb.sum())
    return (GaussianMixture(fg.weights, fg.means, np.broadcast_to(cov, fg.covariances.shape).copy()),
            GaussianMixture(bg.weights, bg.means, np.broadcast_to(cov, bg.covariances.shape).copy()))


def _block_reduce(a: np.ndarray, f: Sequence[int], how: str) -> np.ndarray:
    """Reduce (Z, Y, X[, d]) by integer blocks ``f``: 'mean', 'any' or 'all' (edge-padded)."""
    pads = [(0, (-a.shape[i]) % f[i]) for i in range(3)]
    if any(p[1] for p in pads):
        a = np.pad(a, pads + [(0, 0)] * (a.ndim - 3), mode="edge")
    out = None
    for dz in range(f[0]):
        for dy in range(f[1]):
            for dx in range(f[2]):
                part = a[dz::f[0], dy::f[1], dx::f[2]]
                if how == "mean":
                    out = part.astype(np.float32) if out is None else out + part
                elif how == "any":
                    out = part.copy() if out is None else out | part
                else:
                    out = part.copy() if out is None else out & part
    if how == "mean":
        out /= float(np.prod(f))
    return out


def _upsample(a: np.ndarray, f: Sequence[int], shape: Sequence[int]) -> np.ndarray:
    for i in range(3):
        a = np.repeat(a, f[i], axis=i)
    return a[: shape[0], : shape[1], : shape[2]]


def _factors(shape, sp, n_free, max_graph_voxels) -> list[int]:
    """Integer down-sampling per axis, halving the finest-spaced axis first, until n_free fits."""
    f = [1, 1, 1]
    eff = list(sp)
    n = float(n_free)
    while n > max_graph_voxels:
        cand = [a for a in range(3) if shape[a] // (f[a] * 2) >= 4]
        if not cand:
            break
        a = min(cand, key=lambda i: eff[i])
        f[a] *= 2
        eff[a] *= 2
        n /= 2
    return f


def _multilevel(crop, feat, free, fixed_fg, labels, bg_train, fg_c, *, iterations, geodesic, max_graph_voxels,
                progress, smoothness, n_components, seed, beta, sp, floor, full_beta, star_center=None, order="none"):
    """Coarse-to-fine (Lombaert et al., ICCV 2005): iterate on a block-averaged grid, then cut a band
    of ``max(f)`` voxels around the up-sampled boundary at full resolution."""
    f = _factors(crop.shape, sp, int(free.sum()), max_graph_voxels)
    csp = [sp[a] * f[a] for a in range(3)]
    ccrop = _block_reduce(crop, f, "mean")
    cfeat = _block_reduce(feat, f, "mean")
    c_fixed_fg = _block_reduce(fixed_fg, f, "any")
    c_fixed_bg = _block_reduce(~free & ~fixed_fg, f, "all")
    c_free = ~c_fixed_fg & ~c_fixed_bg
    c_labels = _block_reduce(labels, f, "any") & ~c_fixed_bg
    c_bg_train = _block_reduce(bg_train, f, "any") | c_fixed_bg
    progress(0.05, f"coarse grid {ccrop.shape} (factors {tuple(f)})")
    c_beta = contrast_beta(ccrop, seed=seed) * (beta / max(full_beta, 1e-30))
    geo = None
    if c_fixed_fg.any() and geodesic > 0:
        geo = _geodesic_costs(cfeat[..., -1], c_free, c_fixed_fg, ~c_free & ~c_fixed_fg, csp, weight=geodesic)
    c_out, _, _, order = _iterate(ccrop, cfeat, c_free, c_fixed_fg, c_labels, c_bg_train, iterations=iterations,
                           smoothness=smoothness, n_components=n_components, seed=seed, beta=c_beta, sp=csp,
                           floor=floor, progress=lambda fr, t: progress(0.05 + 0.7 * fr, "coarse " + t),
                           fg_train=c_fixed_fg if c_fixed_fg.any() else None, pooled=bool(c_fixed_fg.any()), geo=geo,
                           star_center=None if star_center is None else tuple(
                               (c - (f[a] - 1) / 2) / f[a] for a, c in enumerate(star_center)), order=order)
    # band: coarse voxels on the coarse boundary and their 6-neighbours, at full resolution
    st = ndi.generate_binary_structure(3, 1)
    c_edge = ndi.binary_dilation(c_out, st) & ~ndi.binary_erosion(c_out, st, border_value=1)
    c_band = ndi.binary_dilation(c_edge, st)
    up = _upsample(c_out, f, crop.shape)
    band = _upsample(c_band, f, crop.shape) & free
    fixed = (up & ~band & free) | fixed_fg
    labels0 = (up & free) | fixed_fg
    progress(0.8, f"refining a band of {int(band.sum())} voxels at full resolution")
    out, _, _, _ = _iterate(crop, feat, band, fixed, labels0, ~labels0, iterations=1, smoothness=smoothness,
                            n_components=n_components, seed=seed + 7, beta=beta, sp=sp, floor=floor,
                            progress=lambda fr, t: None, pooled=bool(fg_c.any()), star_center=star_center,
                            order=order)
    return out
