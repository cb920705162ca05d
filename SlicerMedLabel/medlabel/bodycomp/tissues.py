"""Rule-based body-composition tissue labels on axial CT slices (HU windows + anatomy).

Method (per axial slice)
------------------------
1. **Body**: the largest connected region above -500 HU, holes filled (lungs, bowel gas).
2. **Tissue classes by HU window** (presets below; the Alberta protocol of Mitsiopoulos et al.,
   J Appl Physiol 1998;85:115-122 and Mourtzakis et al., Appl Physiol Nutr Metab 2008;33:997-1006):
   muscle -29..150 HU, subcutaneous/intermuscular fat -190..-30 HU, visceral fat -150..-50 HU.
3. **Muscle compartment**: soft tissue and bone more than ``skin_mm`` inside the body outline
   (so skin is never muscle), closed by ``close_mm`` and hole-filled. Its outline is the outer
   fascia of the abdominal muscle wall: fat outside it is subcutaneous (SAT), fat inside is
   visceral (VAT) or intermuscular (IMAT).
4. **Muscle wall depth**: rays are cast from the compartment centre in ``n_angles`` directions;
   along each, the wall ends at the first large non-muscle region (visceral fat, gas, bone) going
   inward from the fascia. Directions where an organ touches the wall (the run goes on deeper than
   plausible) take the running median of their neighbours. Soft tissue above the wall depth is
   skeletal muscle; fat there is IMAT.
5. **Psoas**: soft-tissue regions inside the cavity that touch the vertebral body at its sides
   (not in front of it, where the aorta and vena cava lie) are muscle too.

Labels are a starting point for editing; every segment carries provenance tags
(tool = automatic, model = ``rule-based-<preset>@<version>``, time, source image id).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage as ndi

from .. import __version__
from ..errors import InputError
from ..image import Image
from ..labels import TAG_MODEL, TAG_SOURCE, TAG_STATUS, TAG_TIME, TAG_TOOL, LabelSet, Status, Tool, now_iso

Window = tuple[float, float]

#: segment names produced by :func:`label_tissues`, in painting order
TISSUE_NAMES: tuple[str, ...] = (
    "body", "skeletal_muscle", "intermuscular_fat", "visceral_fat", "subcutaneous_fat", "bone",
)


@dataclass(frozen=True)
class HUWindows:
    """Inclusive HU windows (low, high) of the body-composition tissues.

    Attributes
    ----------
    muscle_hu, sat_hu, imat_hu, vat_hu : (float, float)
        Windows for skeletal muscle, subcutaneous, intermuscular and visceral fat, in HU.
    name : str
        Preset name recorded in outputs ("alberta", "fat_190_30" or "custom").
    """

    muscle_hu: Window = (-29.0, 150.0)
    sat_hu: Window = (-190.0, -30.0)
    imat_hu: Window = (-190.0, -30.0)
    vat_hu: Window = (-150.0, -50.0)
    name: str = "alberta"

    def __post_init__(self) -> None:
        for key in ("muscle_hu", "sat_hu", "imat_hu", "vat_hu"):
            w = getattr(self, key)
            if len(w) != 2 or not (np.isfinite(w[0]) and np.isfinite(w[1])) or w[0] >= w[1]:
                raise InputError(f"HU window {key}={w!r} must be (low, high) with low < high, in HU")
            object.__setattr__(self, key, (float(w[0]), float(w[1])))

    def as_text(self) -> str:
        """Compact text for reports, e.g. ``muscle -29..150; SAT -190..-30; ...``."""
        f = "{:g}..{:g}".format
        return (f"muscle {f(*self.muscle_hu)}; SAT {f(*self.sat_hu)}; IMAT {f(*self.imat_hu)}; "
                f"VAT {f(*self.vat_hu)} HU")

    def to_dict(self) -> dict:
        return asdict(self)


#: named presets: the Alberta protocol, and -190..-30 HU for all fat (also common for VAT)
PRESETS: dict[str, HUWindows] = {
    "alberta": HUWindows(),
    "fat_190_30": HUWindows(vat_hu=(-190.0, -30.0), name="fat_190_30"),
}


def resolve_windows(preset: str | HUWindows | dict = "alberta") -> HUWindows:
    """Turn a preset name, a :class:`HUWindows` or a dict of windows into :class:`HUWindows`.

    A dict may give any of ``muscle_hu, sat_hu, imat_hu, vat_hu`` (missing ones come from Alberta)
    and is named ``custom`` unless it has a ``name``.
    """
    if isinstance(preset, HUWindows):
        return preset
    if isinstance(preset, dict):
        unknown = set(preset) - {"muscle_hu", "sat_hu", "imat_hu", "vat_hu", "name"}
        if unknown:
            raise InputError(f"unknown HU window keys {sorted(unknown)}; use muscle_hu, sat_hu, imat_hu, vat_hu")
        return HUWindows(**{"name": "custom", **preset})
    try:
        return PRESETS[str(preset).lower()]
    except KeyError:
        raise InputError(f"unknown HU window preset {preset!r}; known: {', '.join(PRESETS)} "
                         "(or pass a dict of windows)") from None


def _in(hu: np.ndarray, w: Window) -> np.ndarray:
    return (hu >= w[0]) & (hu <= w[1])


def _largest(mask: np.ndarray) -> np.ndarray:
    lab, n = ndi.label(mask)
    if n <= 1:
        return mask.copy()
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))


def _disk(radius_mm: float, spacing_yx: tuple[float, float]) -> np.ndarray:
    ry = max(int(np.floor(radius_mm / spacing_yx[0])), 0)
    rx = max(int(np.floor(radius_mm / spacing_yx[1])), 0)
    yy, xx = np.mgrid[-ry:ry + 1, -rx:rx + 1]
    return (yy * spacing_yx[0]) ** 2 + (xx * spacing_yx[1]) ** 2 <= radius_mm ** 2 + 1e-9


def _posterior_sign(direction: np.ndarray) -> int:
    """+1 when the array row index grows toward posterior (LPS +y), -1 when toward anterior."""
    return 1 if direction[1, 1] >= 0 else -1


@dataclass
class _SliceLabels:
    body: np.ndarray
    muscle: np.ndarray
    imat: np.ndarray
    vat: np.ndarray
    sat: np.ndarray
    bone: np.ndarray


def _label_slice(hu: np.ndarray, spacing_yx: tuple[float, float], win: HUWindows, *, skin_mm: float,
                 close_mm: float, n_angles: int, max_wall_mm: float, island_mm2: float,
                 posterior: int, max_front_wall_mm: float = 30.0, grow_mm: float = 6.0, ray_depth: bool = False) -> _SliceLabels:
    sy, sx = spacing_yx
    px_mm2 = sy * sx
    empty = np.zeros(hu.shape, bool)
    body = hu > -500.0
    body = ndi.binary_opening(body, structure=_disk(2.0, spacing_yx)) if body.any() else body
    if not body.any():
        return _SliceLabels(empty, empty, empty, empty, empty, empty)
    body = ndi.binary_fill_holes(_largest(body))
    depth_body = ndi.distance_transform_edt(body, sampling=spacing_yx)
    inner = depth_body > skin_mm
    muscle_win = _in(hu, win.muscle_hu)
    any_fat = _in(hu, win.sat_hu) | _in(hu, win.imat_hu) | _in(hu, win.vat_hu)
    dense = body & (hu > win.muscle_hu[1])
    soft = inner & muscle_win

    # compartment inside the muscle wall's outer fascia
    wall = soft | (dense & inner)
    comp = np.zeros_like(body)
    for r in (close_mm, 2 * close_mm, 4 * close_mm):
        closed = ndi.binary_closing(wall, structure=_disk(r, spacing_yx), border_value=0)
        comp = ndi.binary_fill_holes(closed) & body
        comp = _largest(comp)
        # a closed ring encloses the cavity: its filled area is far larger than the wall itself
        if comp.sum() > 1.6 * (comp & wall).sum():
            break
    comp = ndi.binary_fill_holes(comp)

    # vertebra: the dense region (holes filled: spinal canal) nearest the posterior midline
    dense_filled = ndi.binary_fill_holes(ndi.binary_closing(dense, structure=_disk(2.0, spacing_yx)) | dense)
    lab_d, n_d = ndi.label(dense_filled & comp)
    vertebra = np.zeros_like(body)
    if n_d:
        yy, xx = np.nonzero(comp)
        cy, cx = yy.mean(), xx.mean()
        ext = (yy.max() - yy.min()) if posterior > 0 else (yy.min() - yy.max())
        target = (cy + 0.25 * ext, cx)
        sizes = ndi.sum_labels(np.ones_like(hu), lab_d, index=np.arange(1, n_d + 1)) * px_mm2
        cents = np.array(ndi.center_of_mass(np.ones_like(hu), lab_d, index=np.arange(1, n_d + 1)))
        dist = np.hypot((cents[:, 0] - target[0]) * sy, (cents[:, 1] - target[1]) * sx)
        dist[sizes < 200.0] = np.inf  # a vertebra is > 2 cm² in any adult
        if np.isfinite(dist).any():
            vertebra = lab_d == int(np.argmin(dist)) + 1

    # wall depth along rays from the compartment centre
    depth = ndi.distance_transform_edt(comp, sampling=spacing_yx)
    yy, xx = np.nonzero(comp)
    cy, cx = yy.mean(), xx.mean()
    gy, gx = np.mgrid[0:hu.shape[0], 0:hu.shape[1]]
    theta = np.arctan2((gy - cy) * sy, (gx - cx) * sx)
    bins = np.minimum(((theta + np.pi) / (2 * np.pi) * n_angles).astype(int), n_angles - 1)
    if ray_depth:
        radius = np.hypot((gy - cy) * sy, (gx - cx) * sx)
        r_max = np.zeros(n_angles)
        np.maximum.at(r_max, bins[comp], radius[comp])
        depth = np.where(comp, r_max[bins] - radius + 0.5 * min(sy, sx), 0.0)
    nonsoft = comp & ~soft
    lab_n, n_n = ndi.label(nonsoft)
    if n_n:
        sizes = np.bincount(lab_n.ravel()) * px_mm2
        sizes[0] = 0
        big = sizes[lab_n] >= island_mm2
        terminator = nonsoft & (big | dense_filled) & ~vertebra & (depth > 0.0)
    else:
        terminator = np.zeros_like(body)
    t = np.full(n_angles, np.inf)
    if terminator.any():
        np.minimum.at(t, bins[terminator], depth[terminator])
    centres = (np.arange(n_angles) + 0.5) / n_angles * 2 * np.pi - np.pi
    backward = np.sin(centres) * posterior > 0.5  # rays toward the back: paraspinal muscles
    cap = np.where(backward, max_wall_mm, max_front_wall_mm)
    ok = np.isfinite(t) & (t <= cap)
    if ok.sum() >= 3:
        idx = np.arange(n_angles)
        filled = np.interp(idx, idx[ok], t[ok], period=n_angles)
    else:
        filled = np.minimum(t, cap)
    ref = ndi.median_filter(filled, size=max(3, n_angles // 12) | 1, mode="wrap")
    suspicious = ~ok | (t > 1.5 * ref + 6.0)
    t_final = np.where(suspicious, ref, t)
    envelope = comp & (depth < t_final[bins]) & ~vertebra
    muscle = envelope & soft
    if grow_mm > 0 and muscle.any():
        # soft tissue of the cavity touching the wall muscle, up to grow_mm away (concave corners)
        cand = soft & comp & ~envelope & ~dense_filled
        steps = int(round(grow_mm / min(sy, sx)))
        grown = ndi.binary_dilation(muscle, iterations=steps, mask=cand | muscle)
        envelope |= grown
        muscle |= grown

    # psoas: cavity soft tissue touching the vertebral body at its sides (not in front)
    if vertebra.any():
        vy, vx = np.nonzero(vertebra)
        v_cx = vx.mean()
        front = vy.min() if posterior > 0 else vy.max()  # anterior edge row of the vertebra
        half_w = (vx.max() - vx.min() + 1) * sx / 2.0
        near_v = ndi.binary_dilation(vertebra, structure=_disk(8.0, spacing_yx))
        cavity_soft = soft & comp & ~envelope & ~dense_filled
        lab_c, n_c = ndi.label(cavity_soft)
        touching = np.unique(lab_c[near_v & cavity_soft])
        for lbl in touching[touching > 0]:
            region = lab_c == lbl
            ry, rx = np.nonzero(region)
            behind_front_mm = (ry.mean() - front) * sy * posterior  # > 0: behind the anterior edge
            lateral_mm = abs(rx.mean() - v_cx) * sx
            area = region.sum() * px_mm2
            if lateral_mm > 0.5 * half_w and behind_front_mm > 5.0 and area < 6000.0:
                muscle |= region
                envelope |= ndi.binary_fill_holes(region)

    imat = envelope & _in(hu, win.imat_hu) & ~muscle
    sat = body & ~comp & _in(hu, win.sat_hu)
    vat = comp & ~envelope & ~dense_filled & _in(hu, win.vat_hu)
    bone = dense_filled & (vertebra | envelope)
    del any_fat
    return _SliceLabels(body, muscle, imat, vat, sat, bone)


def label_tissues(
    image: Image,
    *,
    slice_indices: Sequence[int] | None = None,
    preset: str | HUWindows | dict = "alberta",
    skin_mm: float = 3.0,
    close_mm: float = 4.0,
    n_angles: int = 180,
    max_wall_mm: float = 80.0,
    island_mm2: float = 150.0,
    progress: Callable[[float, str], None] | None = None,
) -> LabelSet:
    """Rule-based skeletal muscle, SAT, VAT, IMAT, bone and body outline on axial CT slices.

    Parameters
    ----------
    image : Image
        CT in HU, array (Z, Y, X), axial slices; ``spacing_mm`` (z, y, x).
    slice_indices : sequence of int, optional
        Slices (array index k) to label; others stay empty. Default: all slices.
    preset : str, HUWindows or dict
        HU windows: ``"alberta"`` (default), ``"fat_190_30"`` (-190..-30 HU for VAT too) or custom
        windows (see :func:`resolve_windows`).
    skin_mm : float
        Rim of the body outline (mm) never labelled muscle (skin).
    close_mm : float
        Closing radius (mm) that bridges small gaps of the muscle wall before filling its inside.
    n_angles : int
        Number of ray directions used to measure the muscle wall depth.
    max_wall_mm : float
        Largest plausible muscle depth below the fascia (mm; paraspinal muscles are the deepest).
    island_mm2 : float
        Fat/gas regions smaller than this (mm²) inside the wall are intermuscular fat, not the
        end of the wall.
    progress : callable(fraction, text), optional
        Called after each slice.

    Returns
    -------
    LabelSet
        Segments :data:`TISSUE_NAMES` on the image grid (masks bool, (Z, Y, X)); the tissue
        segments do not overlap; ``body`` contains them all. ``meta`` records windows and options.

    Notes
    -----
    HU windows are inclusive. Voxels of the muscle compartment outside every window (e.g. contrast
    in vessels above 150 HU) belong to no tissue segment.

    Examples
    --------
    >>> from medlabel.phantom import make_l3_phantom
    >>> image, truth = make_l3_phantom((1, 128, 128), (3.0, 3.2, 3.2), noise_hu=5)
    >>> labels = label_tissues(image)
    >>> labels.names[:3]
    ['body', 'skeletal_muscle', 'intermuscular_fat']
    """
    if not isinstance(image, Image):
        raise InputError(f"label_tissues: image must be a medlabel Image; got {type(image).__name__}")
    win = resolve_windows(preset)
    nz = image.shape[0]
    ks = list(range(nz)) if slice_indices is None else [int(k) for k in slice_indices]
    bad = [k for k in ks if not 0 <= k < nz]
    if bad:
        raise InputError(f"label_tissues: slice_indices {bad} outside the image's 0..{nz - 1}")
    if not ks:
        raise InputError("label_tissues: slice_indices is empty; give at least one slice")
    for name, v in (("skin_mm", skin_mm), ("close_mm", close_mm), ("max_wall_mm", max_wall_mm)):
        if not v > 0:
            raise InputError(f"label_tissues: {name} must be > 0 mm; got {v}")
    spacing_yx = (image.spacing_mm[1], image.spacing_mm[2])
    posterior = _posterior_sign(image.direction)
    masks = {n: np.zeros(image.shape, bool) for n in TISSUE_NAMES}
    hu_all = image.array
    for i, k in enumerate(ks):
        sl = _label_slice(hu_all[k].astype(np.float32), spacing_yx, win, skin_mm=skin_mm, close_mm=close_mm,
                          n_angles=n_angles, max_wall_mm=max_wall_mm, island_mm2=island_mm2,
                          posterior=posterior)
        masks["body"][k] = sl.body
        masks["skeletal_muscle"][k] = sl.muscle
        masks["intermuscular_fat"][k] = sl.imat
        masks["visceral_fat"][k] = sl.vat
        masks["subcutaneous_fat"][k] = sl.sat
        masks["bone"][k] = sl.bone
        if progress:
            progress((i + 1) / len(ks), f"labelled slice {k} ({i + 1}/{len(ks)})")
    model = f"rule-based-{win.name}@{__version__}"
    tags = {TAG_TOOL: str(Tool.AUTOMATIC), TAG_MODEL: model, TAG_TIME: now_iso(), TAG_STATUS: str(Status.PROPOSED),
            TAG_SOURCE: str(image.meta.get("SeriesInstanceUID") or image.meta.get("source") or "")}
    tags = {k: v.replace("|", "/") for k, v in tags.items()}
    meta = {"windows": win.to_dict(), "windows_text": win.as_text(), "preset": win.name, "model": model,
            "slice_indices": ks, "options": {"skin_mm": skin_mm, "close_mm": close_mm, "n_angles": n_angles,
                                             "max_wall_mm": max_wall_mm, "island_mm2": island_mm2}}
    labels = LabelSet(image, meta=meta)
    for name in TISSUE_NAMES:
        labels.add_mask(name, masks[name], terminology=name, tags=tags)
    return labels
