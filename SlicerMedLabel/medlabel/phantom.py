"""Synthetic axial CT phantom of the third lumbar vertebra (L3) level with exact ground truth.

The phantom is drawn in millimetres (so the anatomy is the same at any pixel size) as a set of
ellipses and boxes painted in a fixed order onto a label map; every voxel belongs to exactly one
tissue class, and each class gets a constant Hounsfield value plus Gaussian noise. There is no
partial-volume blur, so the truth masks are exact and the truth areas are exactly
``pixel count * pixel area``.

Tissue HU values are chosen inside the Alberta protocol windows (muscle -29..150 HU, subcutaneous
and intermuscular fat -190..-30 HU, visceral fat -150..-50 HU; Mitsiopoulos et al., J Appl Physiol
1998;85:115-122 and Mourtzakis et al., Appl Physiol Nutr Metab 2008;33:997-1006) with enough margin
that at the default noise (10 HU) more than 99 % of every tissue's voxels fall in its window.

Layout (patient LPS axes: array x -> patient left, array y -> posterior; the image is shown
anterior up, patient right on the viewer's left, as in radiology):

* air outside the body (-1000 HU);
* body outline (ellipse), skin (2.5 mm rim, 40 HU);
* subcutaneous fat between the skin and the abdominal muscle wall;
* skeletal muscle: abdominal wall ring, two psoas muscles beside the vertebral body, two
  paraspinal (erector spinae) muscles behind the spine; small intermuscular fat islands inside;
* vertebra: body (trabecular + cortical HU) and posterior arch with spinous process; spinal canal;
* visceral cavity filled with visceral fat and containing liver, kidneys, aorta, vena cava and
  bowel loops (some with gas, some with fluid); every organ is separated from the muscles by fat.

Truth segments (``LabelSet`` names): ``body``, ``skin``, ``subcutaneous_fat``, ``skeletal_muscle``,
``intermuscular_fat``, ``visceral_fat``, ``vertebra``, ``organs`` (organs, vessels, bowel with its
gas, spinal canal). Except ``body`` they partition the body exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .image import Image
from .labels import TAG_SOURCE, LabelSet, Terminology

# label values of the internal label map
AIR, SKIN, SAT, MUSCLE, IMAT, VAT, BONE, ORGAN, GAS, CANAL, CORTEX = range(11)

#: mean HU per internal label (before noise)
TISSUE_HU: dict[int, float] = {
    AIR: -1000.0, SKIN: 40.0, SAT: -100.0, MUSCLE: 45.0, IMAT: -90.0, VAT: -100.0,
    BONE: 220.0, CORTEX: 650.0, ORGAN: 50.0, GAS: -950.0, CANAL: 20.0,
}

#: Alberta-protocol HU windows of the four body-composition tissues (low, high), inclusive
ALBERTA_WINDOWS_HU: dict[str, tuple[float, float]] = {
    "skeletal_muscle": (-29.0, 150.0),
    "subcutaneous_fat": (-190.0, -30.0),
    "intermuscular_fat": (-190.0, -30.0),
    "visceral_fat": (-150.0, -50.0),
}

TRUTH_NAMES: tuple[str, ...] = (
    "body", "skin", "subcutaneous_fat", "skeletal_muscle", "intermuscular_fat", "visceral_fat",
    "vertebra", "organs",
)


@dataclass(frozen=True)
class _Ellipse:
    cx: float
    cy: float
    a: float
    b: float

    def inside(self, x: np.ndarray, y: np.ndarray, grow: float = 0.0) -> np.ndarray:
        a, b = self.a + grow, self.b + grow
        return ((x - self.cx) / a) ** 2 + ((y - self.cy) / b) ** 2 <= 1.0


def _paint_slice(x: np.ndarray, y: np.ndarray, scale: float) -> np.ndarray:
    """Label map (internal labels) of one axial slice; ``x``, ``y`` are pixel centres in mm."""
    s = scale
    lab = np.full(x.shape, AIR, np.uint8)
    body = _Ellipse(0.0, 0.0, 165.0 * s, 120.0 * s)
    lab[body.inside(x, y)] = SKIN
    lab[body.inside(x, y, grow=-2.5)] = SAT
    wall_out = _Ellipse(0.0, 4.0, 140.0 * s, 96.0 * s)
    wall_in = _Ellipse(0.0, 2.0, 127.0 * s, 82.0 * s)
    paraspinal = [_Ellipse(sx * 27.0, 74.0, 27.0, 19.0) for sx in (-1, 1)]
    psoas = [_Ellipse(sx * 37.0, 22.0, 15.0, 13.0) for sx in (-1, 1)]
    muscle = wall_out.inside(x, y) & ~wall_in.inside(x, y)
    for e in paraspinal + psoas:
        muscle |= e.inside(x, y)
    cavity = wall_in.inside(x, y) & ~muscle
    lab[muscle] = MUSCLE
    lab[cavity] = VAT
    # intermuscular fat islands (radius 2.5-3.5 mm) at fixed places inside the muscles
    islands = [(-29.0, 70.0, 3.0), (31.0, 78.0, 3.5), (-40.0, 22.0, 2.5), (38.0, 24.0, 2.5),
               (0.0, -86.0 * s, 3.0), (-95.0 * s, -60.0 * s, 3.0), (100.0 * s, -55.0 * s, 2.5),
               (-124.0 * s, 30.0 * s, 2.5), (120.0 * s, 40.0 * s, 3.0)]
    for cx, cy, r in islands:
        lab[_Ellipse(cx, cy, r, r).inside(x, y) & (lab == MUSCLE)] = IMAT
    # vertebra: body with a cortical shell, posterior arch, spinous process, spinal canal
    vb = _Ellipse(0.0, 30.0, 19.0, 17.0)
    lab[vb.inside(x, y)] = CORTEX
    lab[vb.inside(x, y, grow=-2.0)] = BONE
    arch_out = _Ellipse(0.0, 57.0, 13.0, 12.0)
    canal = _Ellipse(0.0, 56.0, 8.0, 7.0)
    lab[arch_out.inside(x, y)] = CORTEX
    lab[(np.abs(x) <= 4.0) & (y >= 60.0) & (y <= 92.0)] = CORTEX  # spinous process
    lab[canal.inside(x, y)] = CANAL
    # organs inside the cavity, each ringed by visceral fat
    organs = [
        _Ellipse(-80.0 * s, -16.0 * s, 32.0 * s, 38.0 * s),   # liver (patient right = -x)
        _Ellipse(-80.0 * s, 42.0 * s, 13.0, 20.0),            # right kidney
        _Ellipse(80.0 * s, 42.0 * s, 13.0, 20.0),             # left kidney
        _Ellipse(6.0, -6.0, 10.0, 10.0),                      # aorta
        _Ellipse(-24.0, -6.0, 8.0, 7.0),                      # vena cava
    ]
    for e in organs:
        lab[e.inside(x, y) & (lab == VAT)] = ORGAN
    bowel = [(20.0, -45.0, 15.0, True), (-18.0, -52.0, 12.0, False), (55.0 * s, -30.0 * s, 14.0, True),
             (68.0 * s, 0.0, 9.0, False), (-10.0, -20.0, 7.0, True)]
    for cx, cy, r, gas in bowel:
        loop = _Ellipse(cx, cy, r, r)
        lab[loop.inside(x, y) & (lab == VAT)] = ORGAN
        if gas:
            lab[_Ellipse(cx, cy, r - 3.0, r - 3.0).inside(x, y) & (lab == ORGAN)] = GAS
    return lab


def make_l3_phantom(
    shape: tuple[int, int, int] = (1, 512, 512),
    spacing_mm: tuple[float, float, float] = (3.0, 0.8, 0.8),
    *,
    seed: int = 0,
    noise_hu: float = 10.0,
    z_variation: float = 0.02,
    sex: str | None = "M",
    height_m: float | None = 1.75,
    weight_kg: float | None = 78.0,
) -> tuple[Image, LabelSet]:
    """Synthetic L3 CT slice or slab with exact tissue masks.

    Parameters
    ----------
    shape : (Z, Y, X) tuple of int
        Array shape; ``Z = 1`` gives a single slice, ``Z > 1`` a slab whose body and muscle-wall
        size changes by ``z_variation`` (relative) from the first to the last slice.
    spacing_mm : (3,) tuple of float
        Voxel size along z, y, x in mm. The anatomy is drawn in mm, so the field of view is
        ``shape * spacing``; it must be at least 340 x 250 mm (x, y) to hold the body.
    seed : int
        Seed of the noise generator (the result is reproducible).
    noise_hu : float
        Standard deviation of the additive Gaussian noise in HU (>= 0; at most 18 HU so that
        >= 99 % of every tissue stays inside its Alberta window).
    z_variation : float
        Relative change of body size across a slab (0 keeps all slices identical).
    sex, height_m, weight_kg : optional
        Stored in ``image.meta`` as DICOM-style ``PatientSex``, ``PatientSize`` (m) and
        ``PatientWeight`` (kg), so index computations can be tested; ``None`` leaves a tag out.

    Returns
    -------
    image : Image
        int16 CT in HU, array (Z, Y, X); origin chosen so that the slice centre is at x = y = 0.
        ``image.meta["truth_areas_cm2"]`` maps each truth segment name to a list of per-slice areas.
    truth : LabelSet
        Segments named as in :data:`TRUTH_NAMES` with terminology and tag ``MedLabel.Source=phantom``.

    Examples
    --------
    >>> image, truth = make_l3_phantom((1, 128, 128), (3.0, 3.2, 3.2), noise_hu=5)
    >>> int(truth["skeletal_muscle"].mask.sum()) > 0
    True
    """
    shape = tuple(int(v) for v in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"make_l3_phantom: shape must be (Z, Y, X) positive ints; got {shape}")
    spacing = tuple(float(v) for v in spacing_mm)
    if len(spacing) != 3 or min(spacing) <= 0:
        raise InputError(f"make_l3_phantom: spacing_mm must be 3 positive numbers (z, y, x); got {spacing_mm}")
    fov_x, fov_y = shape[2] * spacing[2], shape[1] * spacing[1]
    if fov_x < 340.0 * (1 + abs(z_variation)) or fov_y < 250.0 * (1 + abs(z_variation)):
        raise InputError(
            f"make_l3_phantom: field of view {fov_x:.0f} x {fov_y:.0f} mm (x, y) is too small for the "
            "phantom body (needs 340 x 250 mm); use more pixels or a larger spacing_mm")
    if not 0.0 <= noise_hu <= 18.0:
        raise InputError(f"make_l3_phantom: noise_hu must be in 0..18 HU; got {noise_hu}")
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    xs = (np.arange(nx) - (nx - 1) / 2.0) * spacing[2]
    ys = (np.arange(ny) - (ny - 1) / 2.0) * spacing[1]
    x, y = np.meshgrid(xs, ys)
    labmap = np.empty(shape, np.uint8)
    for k in range(nz):
        scale = 1.0 + (z_variation * (k / (nz - 1) - 0.5) if nz > 1 else 0.0)
        labmap[k] = _paint_slice(x, y, scale)
    hu_lut = np.array([TISSUE_HU[i] for i in range(len(TISSUE_HU))], np.float64)
    ct = hu_lut[labmap] + rng.normal(0.0, noise_hu, size=shape)
    ct = np.clip(np.rint(ct), -1024, 3071).astype(np.int16)

    meta: dict = {"Modality": "CT", "PatientID": f"PHANTOM-{seed}", "SeriesDescription": "synthetic L3 phantom",
                  "source": "medlabel.phantom.make_l3_phantom"}
    if sex is not None:
        meta["PatientSex"] = sex
    if height_m is not None:
        meta["PatientSize"] = float(height_m)
    if weight_kg is not None:
        meta["PatientWeight"] = float(weight_kg)
    origin = (float(xs[0]), float(ys[0]), 0.0)
    image = Image(ct, spacing, origin, np.eye(3), meta)

    truth = LabelSet(image, meta={"source": "phantom", "seed": seed})
    tags = {TAG_SOURCE: "phantom"}
    groups: dict[str, tuple[list[int], str | Terminology]] = {
        "body": ([v for v in TISSUE_HU if v != AIR], "body"),
        "skin": ([SKIN], "body"),
        "subcutaneous_fat": ([SAT], "subcutaneous_fat"),
        "skeletal_muscle": ([MUSCLE], "skeletal_muscle"),
        "intermuscular_fat": ([IMAT], "intermuscular_fat"),
        "visceral_fat": ([VAT], "visceral_fat"),
        "vertebra": ([BONE, CORTEX], "vertebra"),
        "organs": ([ORGAN, GAS, CANAL], "organ"),
    }
    areas: dict[str, list[float]] = {}
    for name in TRUTH_NAMES:
        values, term = groups[name]
        mask = np.isin(labmap, values)
        truth.add_mask(name, mask, terminology=term, tags=tags)
        areas[name] = [float(c) * image.pixel_area_mm2 / 100.0 for c in mask.reshape(nz, -1).sum(axis=1)]
    meta["truth_areas_cm2"] = areas
    meta["truth_hu"] = {name: [TISSUE_HU[v] for v in groups[name][0]] for name in TRUTH_NAMES}
    return image, truth
