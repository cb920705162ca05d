"""Choice of the L3 slice(s): by index, by position in mm, as a slab, or an automatic suggestion.

The automatic suggestion is never used silently: :class:`SliceChoice` records how the slice was
chosen (``method``), its confidence and a note, and these go into every output row.

Automatic L3 suggestion
-----------------------
* From a vertebra label map (e.g. TotalSegmentator ``total``: L3 = label 29): the slice through the
  middle of the L3 label (median slice index of the slices that contain it). Confidence is high
  (0.95) when the label spans a plausible height (15-60 mm), lower otherwise.
* From the image alone (a coarse landmark rule, confidence 0.5 or lower): bone above 400 HU lateral
  to the spine is the pelvis (the lowest run of such slices, with a bone-free gap above it) or ribs.
  The top of the iliac crests lies at about the L4 level (the supracristal plane; Chakraverty et al., J Anat
  2007;210:232-236), so the middle of L3 is taken ``crest_to_l3_mm`` (default 40 mm, about one
  lumbar vertebra plus disc) above it. Without a pelvis in view, the lowest rib is used instead
  (L3 middle about 35 mm below it; confidence 0.25). Both are estimates within about one level;
  the user must check the slice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from ..errors import InputError
from ..image import Image

#: TotalSegmentator 'total' task label of the L3 vertebra
TOTALSEG_L3 = 29


@dataclass
class SliceChoice:
    """Chosen slice indices (array k) and how they were chosen.

    Attributes
    ----------
    indices : list of int
        Slices used (one, or a slab averaged by the metrics).
    method : str
        'index', 'position_mm', 'auto_l3_labels', 'auto_l3_image'.
    confidence : float or None
        For automatic choices, 0..1.
    centre : int
        The central slice (shown in overlays).
    z_mm : list of float
        Patient z (LPS, mm) of each slice.
    note : str
        Human-readable explanation (what landmark, which label).
    """

    indices: list[int]
    method: str
    centre: int
    confidence: float | None = None
    z_mm: list[float] = field(default_factory=list)
    note: str = ""

    def as_text(self) -> str:
        conf = f", confidence {self.confidence:.2f}" if self.confidence is not None else ""
        ks = f"{self.indices[0]}..{self.indices[-1]}" if len(self.indices) > 1 else f"{self.indices[0]}"
        return f"k={ks} ({self.method}{conf})"


@dataclass
class L3Suggestion:
    """An automatic L3 slice proposal (see module docstring)."""

    index: int
    confidence: float
    method: str
    note: str
    range: tuple[int, int] | None = None


def _l3_from_labels(labels: np.ndarray, image: Image, l3_label: int) -> L3Suggestion:
    arr = np.asarray(labels)
    if arr.shape != image.shape:
        raise InputError(f"vertebra label map shape {arr.shape} differs from the image {image.shape}; "
                         "resample it onto the image grid")
    ks = np.nonzero((arr == l3_label).any(axis=(1, 2)))[0]
    if ks.size == 0:
        present = sorted(int(v) for v in np.unique(arr) if v)
        raise InputError(f"vertebra label map has no voxel with label {l3_label} (L3); labels present: {present}. "
                         "Choose the slice by hand or pass the right l3_label")
    centre = int(np.round(np.median(ks)))
    height = (ks.max() - ks.min() + 1) * image.spacing_mm[0]
    conf = 0.95 if 15.0 <= height <= 60.0 else 0.6
    return L3Suggestion(centre, conf, "auto_l3_labels",
                        f"middle of vertebra label {l3_label} (slices {ks.min()}..{ks.max()}, {height:.0f} mm)",
                        (int(ks.min()), int(ks.max())))


def _lateral_bone_cm2(image: Image, min_hu: float = 200.0, lateral_mm: float = 50.0) -> np.ndarray:
    """Per slice: area (cm²) of bone pieces more than ``lateral_mm`` left or right of the body centre."""
    sy, sx = image.spacing_mm[1], image.spacing_mm[2]
    # left-right is the in-plane array axis nearer LPS x: columns (1) as usual, rows (0) when the
    # image is stored transposed
    d = np.asarray(image.direction, float).reshape(3, 3)
    lr_axis = 0 if abs(d[0, 1]) > abs(d[0, 0]) else 1
    s_lr = sy if lr_axis == 0 else sx
    out = np.zeros(image.shape[0])
    for k in range(image.shape[0]):
        hu = image.array[k]
        body = hu > -190
        if not body.any():
            continue
        cx = np.nonzero(body)[lr_axis].mean()
        bone = body & (hu > min_hu)
        lab, n = ndi.label(bone)
        if not n:
            continue
        idx = np.arange(1, n + 1)
        area = ndi.sum_labels(np.ones_like(hu, float), lab, idx) * sy * sx / 100.0
        cents = np.array(ndi.center_of_mass(np.ones_like(hu, float), lab, idx))[:, lr_axis]
        keep = (np.abs(cents - cx) * s_lr > lateral_mm) & (area >= 0.2)
        out[k] = float(area[keep].sum())
    return out


def _l3_from_image(image: Image, crest_to_l3_mm: float, bone_hu: float = 400.0) -> L3Suggestion:
    z = image.slice_z_mm()
    order = np.argsort(z)  # inferior -> superior
    lat = _lateral_bone_cm2(image, min_hu=bone_hu)[order]
    zs = z[order]
    dz = float(np.median(np.diff(zs))) if len(zs) > 1 else image.spacing_mm[0]
    # bridge gaps of up to ~10 mm inside a run (thin crest tips, partial volume)
    n_close = max(1, int(np.ceil(10.0 / dz)))
    padded = np.pad(lat >= 0.3, n_close, mode="edge")
    present = ndi.binary_closing(padded, structure=np.ones(2 * n_close + 1, bool))[n_close:-n_close]
    gap_slices = max(2, int(np.ceil(25.0 / dz)))
    crest_top = None
    if present[0]:
        top = 0
        while top + 1 < len(present) and present[top + 1]:
            top += 1
        above = present[top + 1: top + 1 + gap_slices]
        if top + 1 + gap_slices <= len(present) and not above.any():
            crest_top = top
    if crest_top is not None:
        target = zs[crest_top] + crest_to_l3_mm
        clear = lat[: crest_top + 1].max() >= 8.0
        conf = 0.5 if clear else 0.35
        note = (f"iliac crest top at z={zs[crest_top]:.1f} mm (slice {int(order[crest_top])}"
                f"{'' if clear else ', pelvis only partly in view'}); L3 middle taken {crest_to_l3_mm:g} mm above it")
    else:
        ribs = np.nonzero(present)[0]
        if not ribs.size:
            raise InputError("automatic L3: neither pelvis nor ribs were found in the image; choose the slice by hand")
        low = int(ribs.min())
        target = zs[low] - 35.0
        conf, note = 0.25, (f"no pelvis in view; lowest rib at z={zs[low]:.1f} mm (slice {int(order[low])}); "
                            "L3 middle taken 35 mm below it")
    if target < zs.min() - dz or target > zs.max() + dz:
        raise InputError(f"automatic L3: the estimate z={target:.1f} mm lies outside the scan "
                         f"({zs.min():.1f}..{zs.max():.1f} mm); choose the slice by hand")
    k = int(np.argmin(np.abs(z - target)))
    return L3Suggestion(k, conf, "auto_l3_image", note + " (estimate within about one vertebral level; check it)")


def suggest_l3(image: Image, *, vertebra_labels: np.ndarray | Image | None = None, l3_label: int = TOTALSEG_L3,
               crest_to_l3_mm: float = 40.0) -> L3Suggestion:
    """Suggest the slice through the middle of L3.

    Parameters
    ----------
    image : Image
        CT in HU, axial slices (Z, Y, X).
    vertebra_labels : (Z, Y, X) int array or Image, optional
        Vertebra label map on the image grid; when given it decides.
    l3_label : int
        Label value of L3 in ``vertebra_labels`` (TotalSegmentator 'total': 29).
    crest_to_l3_mm : float
        Distance from the top of the iliac crests up to the middle of L3 (image rule).

    Returns
    -------
    L3Suggestion
        index, confidence (0..1), method and an explanatory note.
    """
    if vertebra_labels is not None:
        arr = vertebra_labels.array if isinstance(vertebra_labels, Image) else vertebra_labels
        return _l3_from_labels(arr, image, l3_label)
    return _l3_from_image(image, crest_to_l3_mm)


#: |cos| of the angle between array axis k and patient z below which slices are not axial (45 degrees;
#: gantry-tilted axial series stay well above it)
_MIN_AXIAL_COS = float(np.cos(np.deg2rad(45.0)))


def choose_slices(image: Image, *, slice_index: int | None = None, slice_mm: float | None = None,
                  slab_slices: int = 1, auto_l3: bool = False, vertebra_labels=None,
                  l3_label: int = TOTALSEG_L3) -> SliceChoice:
    """Resolve the user's slice choice into array indices, recording how it was made.

    Parameters
    ----------
    image : Image
    slice_index : int, optional
        Array index k of the L3 slice.
    slice_mm : float, optional
        Patient z position (LPS, mm) of the L3 slice; the nearest slice is used.
    slab_slices : int
        Odd number of slices centred on the choice, averaged by the metrics (1 = single slice).
    auto_l3 : bool
        Use :func:`suggest_l3` (with ``vertebra_labels`` if given).

    Returns
    -------
    SliceChoice
    """
    given = sum(v is not None for v in (slice_index, slice_mm)) + bool(auto_l3)
    if given != 1:
        raise InputError("choose exactly one of slice_index, slice_mm or auto_l3 "
                         f"(got slice_index={slice_index}, slice_mm={slice_mm}, auto_l3={auto_l3})")
    if slab_slices < 1 or slab_slices % 2 == 0:
        raise InputError(f"slab_slices must be an odd number >= 1 (centred slab); got {slab_slices}")
    k_dir = np.asarray(image.direction, float)[:, 2]
    if abs(k_dir[2]) < _MIN_AXIAL_COS:
        src = image.meta.get("source", "the image")
        raise InputError(
            f"{src}: its slices (array axis k) are not axial: axis k runs along LPS direction "
            f"({k_dir[0]:.2f}, {k_dir[1]:.2f}, {k_dir[2]:.2f}), not head-foot, so a slice would be a sagittal "
            "or coronal plane. Body composition needs axial slices: reorient the image to axial first "
            "(e.g. SimpleITK.DICOMOrient(image, 'LPS')) and save it again")
    nz = image.shape[0]
    z = image.slice_z_mm()
    conf, note = None, ""
    if slice_index is not None:
        k, method = int(slice_index), "index"
        if not 0 <= k < nz:
            raise InputError(f"slice index {k} is outside the image's 0..{nz - 1}")
    elif slice_mm is not None:
        k = int(np.argmin(np.abs(z - float(slice_mm))))
        if abs(z[k] - float(slice_mm)) > image.spacing_mm[0]:
            raise InputError(f"slice position {slice_mm} mm is outside the scan ({z.min():.1f}..{z.max():.1f} mm)")
        method, note = "position_mm", f"nearest slice to z={float(slice_mm):g} mm"
    else:
        s = suggest_l3(image, vertebra_labels=vertebra_labels, l3_label=l3_label)
        k, method, conf, note = s.index, s.method, s.confidence, s.note
    half = slab_slices // 2
    if k - half < 0 or k + half >= nz:
        raise InputError(f"a slab of {slab_slices} slices around slice {k} leaves the image (0..{nz - 1})")
    ks = list(range(k - half, k + half + 1))
    return SliceChoice(ks, method, k, conf, [float(z[i]) for i in ks], note)


def nearest_slices(image: Image, positions_mm: Sequence[float]) -> list[int]:
    """Array indices of the slices nearest to the given z positions (mm)."""
    z = image.slice_z_mm()
    return [int(np.argmin(np.abs(z - p))) for p in positions_mm]
