"""Rule-based body-composition tissue labels on axial CT slices (HU windows + anatomy).

Method (per axial slice)
------------------------
1. **Body**: the largest connected region at or above the lowest fat HU (-190), holes filled
   (lungs, bowel gas); partial-volume voxels of the air/skin edge fall outside it.
2. **Tissue classes by HU window** (presets below; the Alberta protocol of Mitsiopoulos et al.,
   J Appl Physiol 1998;85:115-122 and Mourtzakis et al., Appl Physiol Nutr Metab 2008;33:997-1006):
   muscle -29..150 HU, subcutaneous/intermuscular fat -190..-30 HU, visceral fat -150..-50 HU.
   Pixels whose local mean over muscle-window neighbours exceeds ``dense_mean_hu`` (80 HU;
   low-density trabecular bone, contrast-enhanced organs) count as dense, not muscle.
3. **Muscle compartment**: soft tissue and bone more than ``skin_mm`` inside the body outline
   (so skin is never muscle), without specks smaller than ``speck_mm2`` (septa in the fat), closed
   by ``close_mm`` and hole-filled. Where the wall has gaps (umbilicus, thin linea alba), a
   star-shaped estimate from the outermost wall pixel per direction (outliers against the running
   median replaced) fills the inside. The outline is the outer fascia: fat outside it is
   subcutaneous (SAT), fat inside is visceral (VAT) or intermuscular (IMAT). The outermost pixel
   ring of the body is skin and never SAT.
4. **Muscle wall depth**: rays are cast from the compartment centre in ``n_angles`` directions;
   along each, the wall ends at the first large fat or gas region going inward from the fascia.
   Directions toward the spine (``spine_half_width_mm`` either side) may reach ``max_wall_mm``
   (paraspinal muscles); other directions at most ``max_front_wall_mm``. Directions where an organ
   touches the wall (no fat behind it, or a jump against the running median) take the median of
   their neighbours. Soft tissue above the wall depth is skeletal muscle; fat there is IMAT.
   Away from the spine, tissue deeper than 6 mm whose local mean is more than 20 HU above the
   median of the shallow wall muscle is taken for an organ pressed against the wall (liver, spleen
   and enhanced organs are brighter than muscle) and left out.
   **Rib cage**: where the slice cuts at least three ribs in the wall (T11-L1), the wall muscles at
   the front and flanks end at the inner surface of the ribs, interpolated between neighbouring
   ribs (intercostal spaces); inside lie the costal diaphragm, liver and spleen.
   **Beside the vertebral body** (within 15 mm, in front of its posterior part) lie the crura
   and the psoas, not the back muscles: the spine rays do not take them.
   **Spinal canal**: soft tissue flanked left and right by the vertebra (within 15 mm) and
   touching the vertebral body is canal, not muscle, also where the arch is open behind.
5. **Psoas and quadratus lumborum**: soft tissue of the cavity within ``psoas_reach_mm`` of the
   vertebra, beside the vertebral body (not in front of it, where the aorta and vena cava lie), is
   split at thin fat planes (HU smoothed over 1.5 mm below 0 HU; crura, kidney and vessels touch
   the psoas through such planes). A piece is muscle when it touches the vertebra (psoas) or the
   back muscles behind the vertebral body (quadratus lumborum), is at least 150 mm², thicker than
   10 mm somewhere (a crus is a thin band) and centred behind the front of the vertebral body.
6. **Partial volume at gas**: fat-HU pixels that touch bowel gas or lung (< -400 HU) and soft
   tissue are a mix of gas and bowel wall, not visceral fat.

Known limits: organs that touch a thin muscle wall below the rib cage can still add a band of
organ to the muscle, and the wall's inner edge is placed pixel by pixel on the HU window (on
3 mm pixels a one-pixel shift of a 2-3 pixel wall changes its area by a third); there is no model
of the diaphragm beyond the rib line; a crus thicker than 10 mm beside the vertebra at T12-L1 can
be taken for psoas. The labels are a starting point for editing.

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


def _label_max(values: np.ndarray, lab: np.ndarray, n: int, *, minimum: bool = False) -> np.ndarray:
    """Largest (or smallest) of ``values`` in each region 1..n of ``lab``; faster than
    ``ndi.maximum`` (which sorts the whole image) for the few pixels labelled here."""
    out = np.full(n + 1, np.inf if minimum else -np.inf)
    sel = lab > 0
    (np.minimum if minimum else np.maximum).at(out, lab[sel], np.asarray(values, float)[sel])
    return out[1:]


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``ndi.binary_fill_holes`` (background 4-connected to the image border is not a hole) by one
    labelling of the background instead of iterated dilations."""
    lab, n = ndi.label(~mask)
    if n == 0:
        return mask.copy()
    border = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    outside = np.zeros(n + 1, bool)
    outside[border] = True
    outside[0] = True
    return mask | ~outside[lab]


def _closing(mask: np.ndarray, radius_mm: float, spacing_yx: tuple[float, float]) -> np.ndarray:
    """Binary closing with the Euclidean disk of ``radius_mm`` (outside the image counts as
    background), the same as ``ndi.binary_closing(mask, _disk(radius_mm), border_value=0)`` but
    computed with two distance transforms, whose cost does not grow with the radius."""
    if not mask.any() or radius_mm <= 0:
        return mask.copy()
    r = radius_mm + 1e-6
    dilated = ndi.distance_transform_edt(~mask, sampling=spacing_yx) <= r
    pad = int(np.ceil(radius_mm / min(spacing_yx))) + 1
    grown = np.pad(dilated, pad, constant_values=False)
    return (ndi.distance_transform_edt(grown, sampling=spacing_yx) > r)[pad:-pad, pad:-pad]


def _disk(radius_mm: float, spacing_yx: tuple[float, float]) -> np.ndarray:
    ry = max(int(np.floor(radius_mm / spacing_yx[0])), 0)
    rx = max(int(np.floor(radius_mm / spacing_yx[1])), 0)
    yy, xx = np.mgrid[-ry:ry + 1, -rx:rx + 1]
    return (yy * spacing_yx[0]) ** 2 + (xx * spacing_yx[1]) ** 2 <= radius_mm ** 2 + 1e-9


def _posterior_sign(direction: np.ndarray) -> int:
    """+1 when the array row index grows toward posterior (LPS +y), -1 when toward anterior."""
    return 1 if direction[1, 1] >= 0 else -1


def _ray_compartment(wall: np.ndarray, body: np.ndarray, spacing_yx: tuple[float, float], *, gap_mm: float,
                     n_bins: int = 360, window_deg: float = 61.0) -> np.ndarray:
    """Star-shaped estimate of the region inside the muscle wall, robust to gaps in the wall.

    From the body centre, the outermost wall pixel is found in each of ``n_bins`` directions; a
    direction whose radius differs by more than ``gap_mm`` from the running median of its
    neighbours (``window_deg``) looks through a gap (umbilicus, thin linea alba, fat channel) or
    hits a stray septum, and takes the radius interpolated between its unflagged neighbours. The region is shrunk by two pixels so that where
    the wall is closed the pixel-exact outline from the morphological fill decides.
    """
    out = np.zeros_like(wall)
    if gap_mm <= 0 or not wall.any():
        return out
    sy, sx = spacing_yx
    yy, xx = np.nonzero(body)
    cy, cx = yy.mean(), xx.mean()
    gy, gx = np.mgrid[0:wall.shape[0], 0:wall.shape[1]]
    radius = np.hypot((gy - cy) * sy, (gx - cx) * sx)
    theta = np.arctan2((gy - cy) * sy, (gx - cx) * sx)
    bins = np.minimum(((theta + np.pi) / (2 * np.pi) * n_bins).astype(int), n_bins - 1)
    r_wall = np.zeros(n_bins)
    np.maximum.at(r_wall, bins[wall], radius[wall])
    size = max(3, int(round(window_deg / 360.0 * n_bins)) | 1)
    med = ndi.median_filter(r_wall, size=size, mode="wrap")
    flagged = np.abs(r_wall - med) > gap_mm
    if flagged.all():
        return out
    # flagged directions take the radius interpolated (in angle) between their unflagged neighbours
    idx = np.arange(n_bins)
    r_use = np.interp(idx, idx[~flagged], r_wall[~flagged], period=n_bins)
    centres = (np.arange(n_bins) + 0.5) / n_bins * 2 * np.pi - np.pi
    r_pix = np.interp(theta, centres, r_use, period=2 * np.pi)
    return body & (radius <= r_pix - 2.0 * max(sy, sx))


def _rib_line(ribs: np.ndarray, depth: np.ndarray, bins: np.ndarray, n_angles: int, *, px_mm2: float,
              wall_mm: float, min_ribs: int, max_gap_deg: float) -> np.ndarray | None:
    """Depth (mm below the outer fascia) of the inner surface of the rib cage per ray direction.

    ``ribs`` are the bone pixels of the wall away from the spine. When the slice cuts at least
    ``min_ribs`` separate ribs (it passes through the rib cage), the depth of each rib's inner
    surface is interpolated (in angle) between neighbouring ribs up to ``max_gap_deg`` apart; the
    intercostal muscles lie between the ribs at that depth, the costal diaphragm and the organs
    inside it. Directions farther than ``max_gap_deg / 2`` from a rib get no limit (``inf``).
    Returns None when the slice cuts fewer ribs (below the rib cage, e.g. at L3).
    """
    ribs = ribs & (depth <= wall_mm)
    lab, n = ndi.label(ribs)
    if n < min_ribs:
        return None
    idx = np.arange(1, n + 1)
    area = np.asarray(ndi.sum_labels(ribs, lab, idx)) * px_mm2
    keep = idx[(area >= 2.0 * px_mm2) & (area <= 800.0)]
    if len(keep) < min_ribs:
        return None
    ribs = np.isin(lab, keep)
    r = np.full(n_angles, -np.inf)
    np.maximum.at(r, bins[ribs], depth[ribs])
    has = np.isfinite(r)
    step = 360.0 / n_angles
    a = np.arange(n_angles)
    hit = a[has]
    # angular distance to the nearest rib direction on either side (periodic)
    fwd = (hit[np.searchsorted(hit, a) % len(hit)] - a) % n_angles
    back = (a - hit[(np.searchsorted(hit, a, side="right") - 1) % len(hit)]) % n_angles
    limit = np.interp(a, hit, r[has], period=n_angles)
    ok = (fwd + back) * step <= max_gap_deg
    ok |= np.minimum(fwd, back) * step <= max_gap_deg / 2.0
    return np.where(ok, limit, np.inf)


@dataclass
class _SliceLabels:
    body: np.ndarray
    muscle: np.ndarray
    imat: np.ndarray
    vat: np.ndarray
    sat: np.ndarray
    bone: np.ndarray


def _label_slice(hu: np.ndarray, spacing_yx: tuple[float, float], win: HUWindows, *, skin_mm: float,
                 close_mm: float, n_angles: int, max_wall_mm: float, island_mm2: float, posterior: int,
                 max_front_wall_mm: float, spine_half_width_mm: float, grow_mm: float, pocket_mm: float,
                 speck_mm2: float, gap_mm: float, dense_mean_hu: float | None = 80.0,
                 vertebra_close_mm: float = 6.0, max_vertebra_mm2: float = 4000.0, cortical_hu: float = 250.0, grow_spine_only: bool = True,
                 jump_factor: float = 1.5, jump_mm: float = 6.0, psoas_reach_mm: float = 45.0,
                 psoas_front_mm: float = 20.0, organ_contrast_hu: float | None = 20.0,
                 shallow_mm: float = 6.0, rib_rule: bool = True, min_ribs: int = 3,
                 rib_gap_deg: float = 50.0, rib_back_sin: float = 0.5,
                 psoas_plane_hu: float | None = 0.0, crus_mm: float = 15.0,
                 canal_close_mm: float = 15.0, psoas_min_half_mm: float = 5.0,
                 gas_hu: float | None = -400.0, back_touch: bool = True) -> _SliceLabels:
    """Labels of one axial slice (see the module docstring for the method)."""
    sy, sx = spacing_yx
    px_mm2 = sy * sx
    empty = np.zeros(hu.shape, bool)
    # partial-volume voxels between air and skin are darker than fat: the body starts at fat HU
    body = hu >= min(win.sat_hu[0], win.imat_hu[0], win.vat_hu[0])
    body = ndi.binary_opening(body, structure=_disk(2.0, spacing_yx)) if body.any() else body
    if not body.any():
        return _SliceLabels(empty, empty, empty, empty, empty, empty)
    body = _fill_holes(_largest(body))
    depth_body = ndi.distance_transform_edt(body, sampling=spacing_yx)
    inner = depth_body > skin_mm
    muscle_win = _in(hu, win.muscle_hu)
    # bright on average (low-density trabecular bone, contrast-enhanced organs) is not muscle even
    # where single pixels fall inside the muscle window: muscle averages 20-65 HU
    if dense_mean_hu is not None:
        # local mean of the muscle-window pixels only (normalised convolution): cortical bone or
        # air next to a muscle does not shift it
        w = muscle_win.astype(np.float32)
        sig = (2.0 / sy, 2.0 / sx)
        num = ndi.gaussian_filter(np.where(muscle_win, hu, 0.0).astype(np.float32), sig)
        den = ndi.gaussian_filter(w, sig)
        local_mean = num / np.maximum(den, 1e-3)
        bright = muscle_win & (local_mean > dense_mean_hu)
    else:
        bright = np.zeros_like(body)
        local_mean = hu
    dense = body & ((hu > win.muscle_hu[1]) | (bright & ~_in(hu, win.sat_hu)))
    soft = inner & muscle_win & ~dense

    # compartment inside the muscle wall's outer fascia
    wall = soft | (dense & inner)
    # specks of skin or fascia inside the subcutaneous fat must not close the ring outside the wall
    lab_w, n_w = ndi.label(wall)
    if n_w > 1:
        sizes = np.bincount(lab_w.ravel()) * px_mm2
        sizes[0] = np.inf
        wall = wall & (sizes[lab_w] >= speck_mm2)
    ray_comp = _ray_compartment(wall, body, spacing_yx, gap_mm=gap_mm)
    comp = np.zeros_like(body)
    for r in (close_mm, 2 * close_mm, 4 * close_mm):
        closed = _closing(wall, r, spacing_yx)
        comp = (_fill_holes(closed) & body) | ray_comp
        comp = _largest(comp)
        # a closed ring encloses the cavity: its filled area is far larger than the wall itself
        if comp.sum() > 1.6 * (comp & wall).sum():
            break
    comp = _fill_holes(comp)
    # subcutaneous fat pockets that the closing enclosed (deep SAT behind a fascia line): fat regions
    # of the compartment that touch its outline and stay shallow belong to SAT
    fat_in = comp & ~wall & _in(hu, win.sat_hu)
    if fat_in.any():
        d_comp = ndi.distance_transform_edt(comp, sampling=spacing_yx)
        lab_f, n_f = ndi.label(fat_in)
        idx = np.arange(1, n_f + 1)
        touches = _label_max(d_comp, lab_f, n_f, minimum=True) <= 1.01 * max(sy, sx)
        deep = _label_max(d_comp, lab_f, n_f)
        pockets = idx[np.asarray(touches) & (np.asarray(deep) <= pocket_mm)]
        if len(pockets):
            comp = comp & ~np.isin(lab_f, pockets)
            comp = _fill_holes(_largest(comp))

    # vertebra: the dense region (holes filled: spinal canal) nearest the posterior midline
    bone_close = _disk(max(2.0, 1.5 * max(sy, sx)), spacing_yx)
    dense_filled = _fill_holes(ndi.binary_closing(dense, structure=bone_close) | dense)
    vertebra = np.zeros_like(body)
    yy, xx = np.nonzero(comp)
    cy, cx = yy.mean(), xx.mean()
    gy0, gx0 = np.mgrid[0:hu.shape[0], 0:hu.shape[1]]
    # the spine lies on the midline in the posterior half of the compartment
    spine_box = (np.abs(gx0 - cx) * sx <= 30.0) & ((gy0 - cy) * posterior >= 0) & comp
    # pieces of bone merged with a closing (low-density vertebral bodies break into fragments); when
    # the closing also swallows contrast-filled bowel or kidneys (a component far larger than any
    # vertebra), fall back to the unmerged bone
    for radius in (vertebra_close_mm, 0.0):
        if radius > 0:
            merged = _fill_holes(_closing(np.pad(dense & comp, 8), radius, spacing_yx))[8:-8, 8:-8]
        else:
            merged = dense_filled & comp
        lab_d, n_d = ndi.label(merged & comp)
        if not n_d:
            continue
        idx = np.arange(1, n_d + 1)
        overlap = np.asarray(ndi.sum_labels(spine_box & merged, lab_d, idx)) * px_mm2
        sizes = np.asarray(ndi.sum_labels(np.ones_like(hu), lab_d, idx)) * px_mm2
        overlap[sizes < 200.0] = 0.0  # a vertebra is > 2 cm² in any adult
        if overlap.max() > 0:
            best = int(np.argmax(overlap))
            vertebra = lab_d == best + 1
            if sizes[best] <= max_vertebra_mm2:
                break
    dense_filled = dense_filled | vertebra
    # contrast-filled vessels may touch the vertebral body and join it; its cortical bone (brighter
    # than contrast in the portal phase) marks where the bone really is, for the anatomy rules below
    v_core = vertebra & (hu > cortical_hu)
    v_core = v_core if v_core.sum() * px_mm2 >= 100.0 else vertebra
    if vertebra.any() and canal_close_mm > 0:
        # the spinal canal: soft tissue flanked left and right by the vertebra (pedicles, laminae)
        # within canal_close_mm and touching the back of the vertebral body; where the arch is open
        # behind (between the laminae, or thin laminae lost to partial volume) it is not enclosed.
        # A left-right closing adds nothing beside the vertebral body, where the psoas and crura
        # lie; the muscles in the laminar grooves do not touch the vertebral body
        half = int(round(canal_close_mm / sx))
        pad = half + 2
        closed_v = ndi.binary_closing(np.pad(vertebra, pad), structure=np.ones((1, 2 * half + 1), bool))
        closed_v = _fill_holes(closed_v)[pad:-pad, pad:-pad]
        cand_c = closed_v & ~vertebra & comp & ~(hu > win.muscle_hu[1])
        cy_rows = np.nonzero(v_core.any(axis=1))[0]
        front_row = cy_rows.min() if posterior > 0 else cy_rows.max()
        rows = np.arange(hu.shape[0])[:, None]
        v_body = vertebra & (np.abs(rows - front_row) * sy <= 40.0)  # body (AP 30-35 mm) and pedicle roots
        lab_c, n_c = ndi.label(cand_c)
        if n_c:
            touch = np.unique(lab_c[ndi.binary_dilation(v_body) & cand_c])
            canal = np.isin(lab_c, touch[touch > 0])
            vertebra = vertebra | canal
            dense_filled = dense_filled | canal

    # wall depth along rays from the compartment centre
    depth = ndi.distance_transform_edt(comp, sampling=spacing_yx)
    yy, xx = np.nonzero(comp)
    cy, cx = yy.mean(), xx.mean()
    gy, gx = np.mgrid[0:hu.shape[0], 0:hu.shape[1]]
    theta = np.arctan2((gy - cy) * sy, (gx - cx) * sx)
    bins = np.minimum(((theta + np.pi) / (2 * np.pi) * n_angles).astype(int), n_angles - 1)
    nonsoft = comp & ~soft & ~dense_filled  # fat, gas, lung: bone (ribs, processes) does not end the wall
    lab_n, n_n = ndi.label(nonsoft)
    if n_n:
        sizes = np.bincount(lab_n.ravel()) * px_mm2
        sizes[0] = 0
        big = sizes[lab_n] >= island_mm2
        terminator = nonsoft & big & (depth > 0.0)
    else:
        terminator = np.zeros_like(body)
    t = np.full(n_angles, np.inf)
    if terminator.any():
        np.minimum.at(t, bins[terminator], depth[terminator])
    centres = (np.arange(n_angles) + 0.5) / n_angles * 2 * np.pi - np.pi
    if vertebra.any():
        # rays that pass the spine reach the paraspinal muscles, the deepest of the wall
        vy, vx = np.nonzero(v_core)
        vdy, vdx = (vy.mean() - cy) * sy, (vx.mean() - cx) * sx
        half_angle = np.arctan2(spine_half_width_mm, np.hypot(vdy, vdx) + 40.0)
        diff = np.angle(np.exp(1j * (centres - np.arctan2(vdy, vdx))))
        spine = np.abs(diff) <= half_angle
    else:
        spine = np.sin(centres) * posterior > 0.7
    cap = np.where(spine, max_wall_mm, max_front_wall_mm)
    t = np.where(spine & (t > cap), cap, t)  # behind the spine the wall reaches the vertebra...
    if vertebra.any():  # ...but not beyond it: in front of the vertebral body lie vessels and bowel
        v_depth = np.zeros(n_angles)
        np.maximum.at(v_depth, bins[v_core], depth[v_core])
        t = np.where(spine & (v_depth > 0), np.minimum(t, v_depth), t)
    ok = np.isfinite(t) & (t <= cap)
    front_ok = ok & ~spine
    front_ref = float(np.median(t[front_ok])) if front_ok.any() else 0.5 * max_front_wall_mm
    if ok.sum() >= 3:
        idx = np.arange(n_angles)
        filled = np.interp(idx, idx[ok], t[ok], period=n_angles)
    else:
        filled = np.minimum(t, cap)
    filled = np.where(spine, filled, np.minimum(filled, front_ref))
    ref = ndi.median_filter(filled, size=max(3, n_angles // 12) | 1, mode="wrap")
    suspicious = ~ok | (t > jump_factor * ref + jump_mm)
    t_final = np.where(suspicious, ref, t)
    envelope = comp & (depth < t_final[bins]) & ~vertebra
    if rib_rule:
        rib_limit = _rib_line(dense_filled & ~vertebra & comp & ~spine[bins], depth, bins, n_angles,
                              px_mm2=px_mm2, wall_mm=max_front_wall_mm, min_ribs=min_ribs,
                              max_gap_deg=rib_gap_deg)
        if rib_limit is not None:
            # inside the rib cage lie the diaphragm and the liver/spleen, not the wall muscles
            # (front and flanks only: behind the flanks the back muscles lie over the ribs)
            rib_limit = np.where(np.sin(centres) * posterior > rib_back_sin, np.inf, rib_limit)
            envelope &= ~(depth > rib_limit[bins])
    beside_body = np.zeros_like(body)
    if vertebra.any():
        vy, vx = np.nonzero(v_core)
        front = vy.min() if posterior > 0 else vy.max()  # anterior edge row of the vertebra
        body_rows = np.abs(vy - front) * sy <= 25.0       # the vertebral body: its front 25 mm
        v_cx = vx[body_rows].mean()
        half_w = (vx[body_rows].max() - vx[body_rows].min() + 1) * sx / 2.0
        dist_v = ndi.distance_transform_edt(~vertebra, sampling=spacing_yx)
        behind_mm = (gy - front) * sy * posterior          # > 0: behind the anterior edge
        lateral_mm = np.abs(gx - v_cx) * sx
        if crus_mm > 0:
            # beside the vertebral body (in front of its posterior edge) lie the diaphragmatic crura
            # and the psoas, not the back muscles: the wall rays stop there; the psoas rule below
            # takes the psoas where a fat plane separates it from the crura
            beside_body = (dist_v <= crus_mm) & (behind_mm <= 25.0) & (lateral_mm > 0.6 * half_w)
            envelope &= ~beside_body
    muscle = envelope & soft
    if organ_contrast_hu is not None and muscle.sum() > 50:
        # organs pressed against the wall (liver, spleen) are brighter than the wall muscle: deeper
        # than the first few mm, drop soft tissue whose local mean is far above the shallow muscle's
        shallow = muscle & (depth <= shallow_mm) & ~spine[bins]
        if shallow.sum() > 50:
            ref_hu = float(np.median(local_mean[shallow]))
            organ_like = (local_mean > ref_hu + organ_contrast_hu) & (depth > shallow_mm) & ~spine[bins]
            muscle &= ~organ_like
            envelope &= ~(organ_like & soft)
    if grow_mm > 0 and muscle.any():
        # soft tissue of the cavity touching the wall muscle, up to grow_mm away (concave corners)
        cand = soft & comp & ~envelope & ~dense_filled & ~beside_body
        if grow_spine_only:
            cand &= spine[bins]
        steps = int(round(grow_mm / min(sy, sx)))
        grown = ndi.binary_dilation(muscle, iterations=steps, mask=cand | muscle)
        envelope |= grown
        muscle |= grown

    # psoas: cavity soft tissue beside the vertebral body (not in front of it, where the aorta and
    # vena cava lie), within psoas_reach_mm of the vertebra
    if vertebra.any():
        zone = (soft & comp & ~envelope & ~dense_filled & (dist_v <= psoas_reach_mm)
                & (lateral_mm > 0.6 * half_w)
                & ((behind_mm > 0) | ((behind_mm > -psoas_front_mm) & (lateral_mm > 1.3 * half_w))))
        zone = ndi.binary_opening(zone, structure=_disk(max(2.0, 0.75 * max(sy, sx)), spacing_yx))
        if psoas_plane_hu is not None:
            # thin fat planes (a pixel or less, partial volume) separate the psoas from the crura,
            # kidney and quadratus lumborum: smoothed over ~1.5 mm they stay below muscle HU
            smooth = ndi.gaussian_filter(np.clip(hu, -200.0, 200.0), (max(0.6, 1.5 / sy), max(0.6, 1.5 / sx)))
            core = zone & (smooth > psoas_plane_hu)
        else:
            core = zone
        lab_c, n_c = ndi.label(core)
        if n_c:
            near_v = dist_v <= 8.0
            idx = np.arange(1, n_c + 1)
            touch = _label_max(near_v, lab_c, n_c) > 0
            if back_touch:
                # the quadratus lumborum lies against the back muscles (wall) beside the spine, at
                # the depth of the transverse processes (behind the vertebral body; the kidney lies
                # in front of it)
                near_b = ndi.binary_dilation(muscle & spine[bins], structure=np.ones((3, 3), bool))
                on_back = _label_max(near_b, lab_c, n_c) > 0
                deep = np.asarray(ndi.mean(behind_mm, lab_c, idx)) >= 25.0
                touch |= on_back & deep
            area = np.asarray(ndi.sum_labels(np.ones_like(hu), lab_c, idx)) * px_mm2
            # the psoas is a muscle belly; the crura beside the vertebral body are thin bands
            # (< ~1 cm): a kept region must be thicker than 2 * psoas_min_half_mm somewhere
            inscribed = ndi.distance_transform_edt(core, sampling=spacing_yx)
            thick = _label_max(inscribed, lab_c, n_c) >= psoas_min_half_mm
            # the psoas lies beside and behind the front of the vertebral body; a region centred in
            # front of it is a crus, a vessel or bowel
            behind = np.asarray(ndi.mean(behind_mm, lab_c, idx)) > 0.0
            keep = idx[touch & (area >= 150.0) & thick & behind]
            region = np.isin(lab_c, keep)
            if psoas_plane_hu is not None and region.any():
                # the smoothing also shaved the psoas border next to fat: grow it back by its width
                steps = int(np.ceil(3.0 / min(sy, sx)))
                region = ndi.binary_dilation(region, iterations=steps, mask=zone)
            muscle |= region
            envelope |= _fill_holes(region)

    imat = envelope & _in(hu, win.imat_hu) & ~muscle
    # the outermost pixel ring of the body is skin (partial volume with air), never SAT
    sat = body & ~comp & _in(hu, win.sat_hu) & (depth_body > max(sy, sx) + 1e-6)
    vat = comp & ~envelope & ~dense_filled & _in(hu, win.vat_hu)
    if gas_hu is not None:
        # pixels between bowel gas (or lung) and soft tissue (the bowel wall) take fat HU by partial
        # volume: a fat-HU pixel touching both is not fat
        gas = comp & (hu < gas_hu)
        if gas.any():
            cross = ndi.generate_binary_structure(2, 1)
            vat &= ~(ndi.binary_dilation(gas, structure=cross)
                     & ndi.binary_dilation(comp & (hu >= win.muscle_hu[0]), structure=np.ones((3, 3), bool)))
    bone = dense_filled & (vertebra | envelope)
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
    max_front_wall_mm: float = 25.0,
    spine_half_width_mm: float = 75.0,
    grow_mm: float = 6.0,
    pocket_mm: float = 0.0,
    speck_mm2: float = 100.0,
    gap_mm: float = 10.0,
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
    extra = {"max_front_wall_mm": max_front_wall_mm, "spine_half_width_mm": spine_half_width_mm,
             "grow_mm": grow_mm, "pocket_mm": pocket_mm, "speck_mm2": speck_mm2,
             "gap_mm": gap_mm}
    # the slice rules need rows along anterior-posterior: an axial image stored with rows along
    # left-right (array axis j nearer LPS x than y) is labelled transposed and transposed back
    d = np.asarray(image.direction, float).reshape(3, 3)
    transposed = abs(d[0, 1]) > abs(d[1, 1])
    if transposed:
        spacing_yx = (image.spacing_mm[2], image.spacing_mm[1])
        posterior = 1 if d[1, 0] >= 0 else -1
    else:
        spacing_yx = (image.spacing_mm[1], image.spacing_mm[2])
        posterior = _posterior_sign(image.direction)
    masks = {n: np.zeros(image.shape, bool) for n in TISSUE_NAMES}
    hu_all = image.array
    for i, k in enumerate(ks):
        hu_k = hu_all[k].astype(np.float32)
        sl = _label_slice(hu_k.T.copy() if transposed else hu_k, spacing_yx, win, skin_mm=skin_mm,
                          close_mm=close_mm, n_angles=n_angles, max_wall_mm=max_wall_mm, island_mm2=island_mm2,
                          posterior=posterior, **extra)
        back = (lambda m: m.T) if transposed else (lambda m: m)
        masks["body"][k] = back(sl.body)
        masks["skeletal_muscle"][k] = back(sl.muscle)
        masks["intermuscular_fat"][k] = back(sl.imat)
        masks["visceral_fat"][k] = back(sl.vat)
        masks["subcutaneous_fat"][k] = back(sl.sat)
        masks["bone"][k] = back(sl.bone)
        if progress:
            progress((i + 1) / len(ks), f"labelled slice {k} ({i + 1}/{len(ks)})")
    model = f"rule-based-{win.name}@{__version__}"
    tags = {TAG_TOOL: str(Tool.AUTOMATIC), TAG_MODEL: model, TAG_TIME: now_iso(), TAG_STATUS: str(Status.PROPOSED),
            TAG_SOURCE: str(image.meta.get("SeriesInstanceUID") or image.meta.get("source") or "")}
    tags = {k: v.replace("|", "/") for k, v in tags.items()}
    meta = {"windows": win.to_dict(), "windows_text": win.as_text(), "preset": win.name, "model": model,
            "slice_indices": ks, "options": {"skin_mm": skin_mm, "close_mm": close_mm, "n_angles": n_angles,
                                             "max_wall_mm": max_wall_mm, "island_mm2": island_mm2, **extra}}
    labels = LabelSet(image, meta=meta)
    for name in TISSUE_NAMES:
        labels.add_mask(name, masks[name], terminology=name, tags=tags)
    return labels
