"""Random synthetic abdominal slices with exact tissue labels, for training tests and the pseudo-label loop.

Each "patient" (one seed) has a body shape; its slices vary a little (as neighbouring axial slices do).
Layout, outside in: air, skin, subcutaneous fat ring (SAT), abdominal-wall muscle ring, a cavity with
organs/bowel and visceral fat (VAT) blobs, a vertebra with psoas and paraspinal muscles that contain
intermuscular fat (IMAT) specks. HU values follow typical CT ranges (fat about -100, muscle about 45,
organs 30-60, bone 300+). This is a training/test aid with known truth, not an anatomical model.
"""

from __future__ import annotations

import numpy as np

from .cards import TISSUE_CLASSES

MUSCLE, SAT, VAT, IMAT = (TISSUE_CLASSES.index(n) + 1 for n in TISSUE_CLASSES)


def _ellipse(yy, xx, cy, cx, ry, rx):
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def synthetic_slices(seed: int, *, n_slices: int = 4, size: int = 128, spacing_mm: float = 3.0,
                     noise_hu: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    """Slices of one synthetic patient.

    Parameters
    ----------
    seed : int
        Patient identity (same seed -> same slices).
    n_slices : int
        Number of axial slices.
    size : int
        Rows and columns of each slice.
    spacing_mm : float
        Pixel spacing (both axes) in mm; anatomy is sized in mm, so it scales with it.
    noise_hu : float
        Standard deviation of the Gaussian noise added to the CT values.

    Returns
    -------
    ct_hu : (N, size, size) float32
        CT values in HU.
    labels : (N, size, size) uint8
        0 background, 1 skeletal muscle, 2 SAT, 3 VAT, 4 IMAT (order of :data:`TISSUE_CLASSES`).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(float) * spacing_mm
    c = size * spacing_mm / 2
    body_ry, body_rx = rng.uniform(95, 135), rng.uniform(140, 175)
    body_ry, body_rx = min(body_ry, c * 0.95), min(body_rx, c * 0.95)
    sat_mm, wall_mm = rng.uniform(8, 35), rng.uniform(7, 14)
    vat_amount = rng.uniform(0.15, 0.55)
    cts, labs = [], []
    for s in range(n_slices):
        jitter = 1.0 + 0.02 * (s - n_slices / 2) / max(1, n_slices)
        ry, rx = body_ry * jitter, body_rx * jitter
        cy, cx = c + rng.uniform(-4, 4), c + rng.uniform(-4, 4)
        ct = np.full((size, size), -1000.0)
        lab = np.zeros((size, size), np.uint8)
        body = _ellipse(yy, xx, cy, cx, ry, rx)
        ct[body] = 20.0  # skin
        sat_outer = _ellipse(yy, xx, cy, cx, ry - 2, rx - 2)
        wall_outer = _ellipse(yy, xx, cy, cx, ry - 2 - sat_mm, rx - 2 - sat_mm)
        cavity = _ellipse(yy, xx, cy, cx, ry - 2 - sat_mm - wall_mm, rx - 2 - sat_mm - wall_mm)
        ct[sat_outer] = -100.0
        lab[sat_outer] = SAT
        ct[wall_outer] = 45.0
        lab[wall_outer] = MUSCLE
        ct[cavity] = 40.0
        lab[cavity] = 0
        # visceral fat: random blobs in the cavity, organs stay soft tissue
        n_blobs = int(6 + 20 * vat_amount)
        for _ in range(n_blobs):
            by = cy + rng.uniform(-0.7, 0.4) * (ry - sat_mm)
            bx = cx + rng.uniform(-0.7, 0.7) * (rx - sat_mm)
            r = rng.uniform(8, 25)
            blob = _ellipse(yy, xx, by, bx, r, r * rng.uniform(0.6, 1.4)) & cavity
            ct[blob] = -95.0
            lab[blob] = VAT
        for _ in range(3):  # bowel gas
            gy, gx = cy + rng.uniform(-0.5, 0.2) * ry, cx + rng.uniform(-0.5, 0.5) * rx
            gas = _ellipse(yy, xx, gy, gx, rng.uniform(4, 10), rng.uniform(4, 10)) & cavity
            ct[gas] = -900.0
            lab[gas] = 0
        # posterior muscles and vertebra
        vy = cy + 0.55 * (ry - sat_mm)
        for dx in (-1, 1):
            psoas = _ellipse(yy, xx, vy - 10, cx + dx * 28, 16, 13)
            para = _ellipse(yy, xx, vy + 28, cx + dx * 30, 18, 24) & body
            for m in (psoas, para):
                ct[m] = 48.0
                lab[m] = MUSCLE
        muscle = lab == MUSCLE
        specks = (rng.random((size, size)) < 0.02) & muscle
        ct[specks] = -80.0
        lab[specks] = IMAT
        vert = _ellipse(yy, xx, vy, cx, 17, 19)
        ct[vert] = 350.0
        lab[vert] = 0
        ct += rng.normal(0, noise_hu, ct.shape)
        cts.append(ct.astype(np.float32))
        labs.append(lab)
    return np.stack(cts), np.stack(labs)
