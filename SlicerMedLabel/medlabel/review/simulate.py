"""Simulated annotators: seeded, spacing-aware perturbations of a reference mask or label set.

Each simulated annotator has a profile: a systematic bias (erode < 0 < dilate, in mm), smooth boundary
noise (mm), and a chance of missing a part (a ball around a random boundary point is left out).
Perturbations act on the signed distance to the reference surface, so they are in millimetres on
anisotropic grids. Used to test consensus methods with a known truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ..errors import InputError
from ..labels import TAG_ANNOTATOR, TAG_SKILL, TAG_STATUS, TAG_TOOL, LabelSet, Skill, Status, Tool


@dataclass(frozen=True)
class AnnotatorProfile:
    """How a simulated annotator deviates from the truth.

    Attributes
    ----------
    name : str
    bias_mm : float
        Signed boundary shift: > 0 draws too large (dilate), < 0 too small (erode).
    noise_mm : float
        Standard deviation of the smooth boundary noise.
    noise_scale_mm : float
        Correlation length of the boundary noise.
    miss_probability : float
        Chance of leaving out one part (per structure).
    miss_radius_mm : float
        Radius of the ball left out.
    skill : str
        'expert' or 'novice' (written to the tag MedLabel.Skill).
    """

    name: str
    bias_mm: float = 0.0
    noise_mm: float = 1.0
    noise_scale_mm: float = 6.0
    miss_probability: float = 0.0
    miss_radius_mm: float = 8.0
    skill: str = Skill.EXPERT.value


def default_profiles(n: int, *, seed: int = 0, novices: int = 0) -> list[AnnotatorProfile]:
    """``n`` varied profiles (the last ``novices`` ones are noisier, biased and miss parts)."""
    if n < 1:
        raise InputError(f"number of annotators must be >= 1; got {n}")
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        novice = k >= n - novices
        out.append(AnnotatorProfile(
            name=f"annotator{k + 1}",
            bias_mm=float(rng.uniform(-1.0, 1.0) * (2.5 if novice else 1.0)),
            noise_mm=float(rng.uniform(0.5, 1.2) * (2.0 if novice else 1.0)),
            miss_probability=0.7 if novice else 0.1,
            skill=(Skill.NOVICE if novice else Skill.EXPERT).value))
    return out


def signed_distance_mm(mask: np.ndarray, *, spacing_mm) -> np.ndarray:
    """(Z, Y, X) float32 signed distance (mm) to the mask boundary: > 0 inside, < 0 outside."""
    m = np.asarray(mask, bool)
    if not m.any():
        return np.full(m.shape, -1e6, np.float32)
    if m.all():
        return np.full(m.shape, 1e6, np.float32)
    inside = ndi.distance_transform_edt(m, sampling=spacing_mm)
    outside = ndi.distance_transform_edt(~m, sampling=spacing_mm)
    return (inside - outside + np.where(m, -0.5, 0.5) * min(spacing_mm)).astype(np.float32)


def simulate_mask(truth: np.ndarray, profile: AnnotatorProfile, *, spacing_mm, seed: int) -> np.ndarray:
    """One simulated annotation of ``truth`` (a (Z, Y, X) bool mask) following ``profile``.

    Parameters
    ----------
    truth : (Z, Y, X) ndarray of bool
    profile : AnnotatorProfile
    spacing_mm : (3,) float, keyword-only
        Voxel size z, y, x in mm.
    seed : int, keyword-only
        Same seed, same result.

    Returns
    -------
    (Z, Y, X) ndarray of bool
    """
    truth = np.asarray(truth, bool)
    if truth.ndim == 2:
        truth = truth[np.newaxis]
    sp = np.asarray(spacing_mm, float)
    if sp.size != 3 or (sp <= 0).any():
        raise InputError(f"spacing_mm must be 3 positive numbers (z, y, x); got {spacing_mm}")
    if not truth.any():
        return truth.copy()
    rng = np.random.default_rng(seed)
    # work in a box around the structure, large enough for dilation and noise
    margin = np.ceil((abs(profile.bias_mm) + 4 * profile.noise_mm + 2) / sp).astype(int)
    idx = np.argwhere(truth)
    lo = np.maximum(idx.min(axis=0) - margin, 0)
    hi = np.minimum(idx.max(axis=0) + margin + 1, truth.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    t = truth[box]
    sd = signed_distance_mm(t, spacing_mm=sp)
    field = np.zeros(t.shape, np.float32)
    if profile.noise_mm > 0:
        raw = rng.standard_normal(t.shape).astype(np.float32)
        sigma = [max(profile.noise_scale_mm / s, 0.5) if n > 1 else 0 for s, n in zip(sp, t.shape, strict=True)]
        field = ndi.gaussian_filter(raw, sigma)
        std = float(field.std())
        if std > 0:
            field *= profile.noise_mm / std
    out_box = (sd + profile.bias_mm + field) > 0
    if profile.miss_probability > 0 and rng.random() < profile.miss_probability:
        surf = np.argwhere(t & ~ndi.binary_erosion(t))
        centre = surf[rng.integers(len(surf))] * sp
        zz, yy, xx = np.ogrid[:t.shape[0], :t.shape[1], :t.shape[2]]
        d2 = (zz * sp[0] - centre[0]) ** 2 + (yy * sp[1] - centre[1]) ** 2 + (xx * sp[2] - centre[2]) ** 2
        out_box &= d2 > profile.miss_radius_mm ** 2
    out = np.zeros(truth.shape, bool)
    out[box] = out_box
    return out


def simulate_annotators(truth: np.ndarray | LabelSet, *, n: int | None = None,
                        profiles: Sequence[AnnotatorProfile] | None = None, spacing_mm=None,
                        seed: int = 0, novices: int = 0) -> list:
    """Simulated annotations of a truth mask or of every segment of a :class:`LabelSet`.

    Parameters
    ----------
    truth : (Z, Y, X) bool ndarray or LabelSet
    n : int, optional
        Number of annotators (ignored when ``profiles`` is given).
    profiles : sequence of AnnotatorProfile, optional
        Default: :func:`default_profiles` (n, seed, novices).
    spacing_mm : (3,) float
        Required for arrays; taken from the LabelSet's geometry otherwise.
    seed : int
    novices : int
        How many of the default profiles are novices.

    Returns
    -------
    list
        For an array: one bool mask per annotator. For a LabelSet: one LabelSet per annotator with
        the same segment names, colours and terminology, tagged with annotator id, skill, tool
        (manual) and status (submitted); ``meta['annotator']`` holds the name.
    """
    if profiles is None:
        if n is None:
            raise InputError("simulate_annotators: give n (number of annotators) or profiles")
        profiles = default_profiles(n, seed=seed, novices=novices)
    if isinstance(truth, LabelSet):
        sp = truth.geometry.spacing_mm
        out = []
        for k, prof in enumerate(profiles):
            ls = LabelSet(truth.geometry, meta={"annotator": prof.name})
            for si, seg in enumerate(truth):
                mask = simulate_mask(seg.mask, prof, spacing_mm=sp, seed=seed * 1000 + k * 97 + si)
                ls.add(seg.copy(mask=mask, tags={**seg.tags, TAG_ANNOTATOR: prof.name, TAG_SKILL: prof.skill,
                                                 TAG_TOOL: Tool.MANUAL.value, TAG_STATUS: Status.SUBMITTED.value}))
            out.append(ls)
        return out
    if spacing_mm is None:
        raise InputError("simulate_annotators: spacing_mm (z, y, x) is required for an array truth")
    return [simulate_mask(truth, p, spacing_mm=spacing_mm, seed=seed * 1000 + k * 97)
            for k, p in enumerate(profiles)]
