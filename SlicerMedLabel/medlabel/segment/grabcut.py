"""GrabCut for CT and PET, 2-D and 3-D: a box (optionally foreground/background strokes) cut by a graph.

Method (Rother, Kolmogorov & Blake, "GrabCut: interactive foreground extraction using iterated graph
cuts", ACM TOG 23(3):309-314, 2004), adapted to grayscale medical images:

* features per voxel: the intensity (HU / SUV) and, by default, its Gaussian-smoothed value
  (``smoothing_mm``), which separates textured tissue from noise better than intensity alone;
* foreground and background Gaussian mixtures (:mod:`.gmm`) fitted to the current labels; the
  background model is learnt from a ring of ``background_margin_mm`` around the box plus background
  strokes, i.e. from the tissue next to the object, not from the whole scan;
* data cost ``-log p(feature | model)``; contrast-sensitive n-links scaled by voxel face area
  (:func:`.graphcut.boundary_weights`); exact minimum cut with PyMaxflow (Boykov-Kolmogorov);
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
from ._common import Box, Progress, _no_progress, check_image, check_mask, check_spacing
from .gmm import GaussianMixture, fit_gmm
from .graphcut import boundary_weights, solve_cut


def grabcut(image: np.ndarray, box: Box | None = None, *, spacing_mm: Sequence[float],
            fg_seeds: np.ndarray | None = None, bg_seeds: np.ndarray | None = None,
            iterations: int = 5, smoothness: float = 4.0, n_components: int = 4,
            smoothing_mm: float = 1.0, background_margin_mm: float | None = None,
            max_graph_voxels: int = 1_500_000, seed: int = 0,
            progress: Progress | None = None) -> np.ndarray:
    """Segment the object in ``box`` by iterated graph cuts.

    Parameters
    ----------
    image : (Z, Y, X) or (Y, X) ndarray
        CT in HU or PET (SUV, Bq/ml); a 2-D slice gives a 2-D cut (4-neighbourhood).
    box : Box, optional
        Voxels outside it are background (``Box.rect`` for one slice). None = the whole image
        (no outside background: the background model then starts from the image border and from
        ``bg_seeds``). A box touching the image border is clipped.
    spacing_mm : (3,) or (2,) sequence of float
        Voxel size z, y, x (or y, x) in mm; weights and smoothing use it (anisotropic voxels).
    fg_seeds, bg_seeds : ndarray of bool, optional
        Strokes (same shape as ``image``): hard foreground / background labels. They may lie
        outside the box (foreground strokes there are kept as foreground).
    iterations : int
        Maximum fit -> cut rounds (>= 1).
    smoothness : float
        GrabCut's gamma: weight of the boundary term against the data term.
    n_components : int
        Gaussians per mixture (foreground and background).
    smoothing_mm : float
        Sigma (mm) of the smoothed-intensity feature; 0 uses the intensity alone.
    background_margin_mm : float, optional
        Width of the ring outside the box whose voxels train the background model (and may be
        labelled). Default: half the box's largest side, at least 10 mm.
    max_graph_voxels : int
        Above this many unknown voxels the cut runs coarse-to-fine (see module notes).
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
    if not isinstance(box, Box):
        raise InputError(f"box must be a medlabel.segment.Box (or None for the whole image); got {type(box).__name__}")
    box = box.check(shape, "box")
    fg = check_mask(fg_seeds, shape, "fg_seeds")
    bg = check_mask(bg_seeds, shape, "bg_seeds")
    if fg is not None and bg is not None and (fg & bg).any():
        raise InputError(f"fg_seeds and bg_seeds overlap in {int((fg & bg).sum())} voxels; erase one of the strokes there")
    if int(iterations) < 1:
        raise InputError(f"iterations must be >= 1; got {iterations}")
    if not smoothness >= 0:
        raise InputError(f"smoothness must be >= 0; got {smoothness}")
    if smoothing_mm < 0:
        raise InputError(f"smoothing_mm must be >= 0 mm; got {smoothing_mm}")

    # working region: the box (plus strokes) grown by the background ring, on active axes only
    in_plane = box.z1 - box.z0 == 1 and shape[0] > 1   # one slice of a volume: a 2-D cut
    if background_margin_mm is None:
        side_mm = max((box.z1 - box.z0) * sp[0] * (not in_plane), (box.y1 - box.y0) * sp[1],
                      (box.x1 - box.x0) * sp[2])
        background_margin_mm = max(10.0, 0.5 * side_mm)
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
    if float(crop.max()) == float(crop.min()):
        res = (in_box | fg_c) & ~bg_c
    else:
        res = _grabcut_region(crop, in_box, fg_c, bg_c, sp, iterations=int(iterations), smoothness=float(smoothness),
                              n_components=int(n_components), smoothing_mm=float(smoothing_mm),
                              max_graph_voxels=int(max_graph_voxels), seed=int(seed), progress=progress)
    out[sl] = res
    progress(1.0, "GrabCut done")
    return out.reshape(np.shape(image))


def _features(crop: np.ndarray, sp: Sequence[float], smoothing_mm: float) -> np.ndarray:
    """(Z, Y, X, d) features: intensity and, when smoothing_mm > 0, its Gaussian-smoothed value."""
    if smoothing_mm <= 0:
        return crop[..., None]
    sigma = [smoothing_mm / s if crop.shape[a] > 1 else 0.0 for a, s in enumerate(sp)]
    sm = ndi.gaussian_filter(crop, sigma, mode="nearest")
    return np.stack([crop, sm], axis=-1)


def _var_floor(feat: np.ndarray) -> np.ndarray:
    """Variance floor per feature: 1e-4 of its overall variance (never 0)."""
    v = feat.reshape(-1, feat.shape[-1]).var(axis=0)
    return np.maximum(v * 1e-4, 1e-6)


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


def _grabcut_region(crop, in_box, fg_c, bg_c, sp, *, iterations, smoothness, n_components, smoothing_mm,
                    max_graph_voxels, seed, progress) -> np.ndarray:
    feat = _features(crop, sp, smoothing_mm)
    floor = _var_floor(feat)
    fixed_fg = fg_c.copy()
    free = in_box & ~fg_c & ~bg_c
    # initial labels: the box (and fg strokes) are foreground
    labels = (in_box | fg_c) & ~bg_c
    bg_train = ~labels
    if not bg_train.any():  # box = whole region and no background stroke: start from the border layer
        bg_train = _border_layer(crop.shape) & ~fg_c
        if not bg_train.any():
            return labels
    weights, _ = boundary_weights(crop, sp)

    n_free = int(free.sum())
    if n_free > max_graph_voxels and crop.ndim == 3:
        return _multilevel(crop, feat, free, fixed_fg, labels, bg_train, sp, weights, floor,
                           iterations=iterations, smoothness=smoothness, n_components=n_components,
                           smoothing_mm=smoothing_mm, max_graph_voxels=max_graph_voxels, seed=seed,
                           progress=progress)
    labels, _, _ = _iterate(feat, free, fixed_fg, labels, bg_train, weights, floor, iterations=iterations,
                            smoothness=smoothness, n_components=n_components, seed=seed, progress=progress)
    return labels


def _iterate(feat, free, fixed_fg, labels, bg_train, weights, floor, *, iterations, smoothness, n_components,
             seed, progress, models: tuple[GaussianMixture, GaussianMixture] | None = None):
    """Rother's loop: fit both mixtures to the current labels, cut, repeat until stable."""
    d = feat.shape[-1]
    x_free = feat[free].reshape(-1, d)
    fg_model, bg_model = models if models is not None else (None, None)
    for it in range(iterations):
        fg_x = feat[labels].reshape(-1, d)
        bg_x = feat[bg_train].reshape(-1, d)
        if fg_x.shape[0] == 0:
            break
        fg_model = fit_gmm(fg_x, n_components=n_components, min_var=floor, seed=seed + it, init=fg_model,
                           n_iter=10 if fg_model is None else 3, max_samples=8000)
        bg_model = fit_gmm(bg_x, n_components=n_components, min_var=floor, seed=seed + 1000 + it, init=bg_model,
                           n_iter=10 if bg_model is None else 3, max_samples=8000)
        cost_fg = -fg_model.log_likelihood(x_free)
        cost_bg = -bg_model.log_likelihood(x_free)
        new = solve_cut(free, fixed_fg, cost_fg, cost_bg, weights, smoothness=smoothness)
        changed = int((new != labels).sum())
        labels = new
        bg_train = ~labels
        progress(0.1 + 0.8 * (it + 1) / iterations, f"GrabCut iteration {it + 1}/{iterations}")
        if changed == 0:
            break
    return labels, fg_model, bg_model


def _block_reduce(a: np.ndarray, f: Sequence[int], how: str) -> np.ndarray:
    pads = [(0, (-a.shape[i]) % f[i]) for i in range(3)]
    if any(p[1] for p in pads):
        a = np.pad(a, pads + [(0, 0)] * (a.ndim - 3), mode="edge")
    sh = []
    for i in range(3):
        sh += [a.shape[i] // f[i], f[i]]
    b = a.reshape(*sh, *a.shape[3:])
    axes = (1, 3, 5)
    if how == "mean":
        return b.mean(axis=axes, dtype=np.float32)
    if how == "any":
        return b.any(axis=axes)
    return b.all(axis=axes)


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


def _multilevel(crop, feat, free, fixed_fg, labels, bg_train, sp, weights, floor, *, iterations, smoothness,
                n_components, smoothing_mm, max_graph_voxels, seed, progress):
    f = _factors(crop.shape, sp, int(free.sum()), max_graph_voxels)
    csp = [sp[a] * f[a] for a in range(3)]
    ccrop = _block_reduce(crop, f, "mean")
    cfeat = _block_reduce(feat, f, "mean")
    c_fixed_fg = _block_reduce(fixed_fg, f, "any")
    c_fixed_bg = _block_reduce(~free & ~fixed_fg, f, "all")
    c_free = ~c_fixed_fg & ~c_fixed_bg
    c_labels = _block_reduce(labels, f, "any") & ~c_fixed_bg
    c_bg_train = _block_reduce(bg_train, f, "any") | c_fixed_bg
    cweights, _ = boundary_weights(ccrop, csp)
    progress(0.05, f"coarse grid {ccrop.shape} (factors {tuple(f)})")
    c_out, fgm, bgm = _iterate(cfeat, c_free, c_fixed_fg, c_labels, c_bg_train, cweights, floor,
                               iterations=iterations, smoothness=smoothness, n_components=n_components, seed=seed,
                               progress=lambda fr, t: progress(0.05 + 0.7 * fr, "coarse " + t))
    up = _upsample(c_out, f, crop.shape)
    r = max(f)
    st = ndi.generate_binary_structure(3, 1)
    band = (ndi.binary_dilation(up, st, iterations=r) & ~ndi.binary_erosion(up, st, iterations=r)) & free
    fixed = (up & ~band & free) | fixed_fg
    labels0 = (up & free) | fixed_fg
    progress(0.8, f"refining a band of {int(band.sum())} voxels at full resolution")
    out, _, _ = _iterate(feat, band, fixed, labels0, ~labels0, weights, floor, iterations=1,
                         smoothness=smoothness, n_components=n_components, seed=seed + 7,
                         progress=lambda fr, t: None, models=None)
    return out
