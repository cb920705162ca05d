"""CT-grid segments onto the PET grid and back: analytic sphere volumes, voxel-centre rule checked
point by point, overlap checks, and statistics of a CT-grid segment on a PET phantom."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medlabel.errors import GeometryError, InputError
from medlabel.image import Image
from medlabel.labels import Geometry, LabelSet
from medlabel.pet.fusion import (
    check_grids_overlap,
    mask_fraction_on_grid,
    overlap_fraction,
    resample_labelset,
    resample_mask_nearest,
    segment_fractions,
)
from medlabel.pet.stats import pet_statistics_table

# a "CT" grid: 1 x 0.8 x 0.8 mm and a "PET" grid: 3 x 4 x 4 mm, shifted by a non-integer offset
CT = Geometry((60, 100, 100), (1.0, 0.8, 0.8), (-40.0, -40.0, -30.0))
PET = Geometry((24, 24, 24), (3.0, 4.0, 4.0), (-47.3, -45.1, -35.9))
CENTRE_LPS = np.array([1.3, -0.7, 0.4])
RADIUS = 12.0  # mm


def _sphere_on(g: Geometry, centre=CENTRE_LPS, radius=RADIUS) -> np.ndarray:
    img = g.empty_image()
    idx = np.indices(g.shape).reshape(3, -1).T
    pts = img.index_to_lps(idx)
    return (np.linalg.norm(pts - centre, axis=1) <= radius).reshape(g.shape)


def test_fraction_volume_matches_the_analytic_sphere():
    ct_mask = _sphere_on(CT)
    true_ml = 4 / 3 * math.pi * RADIUS**3 / 1000.0
    ct_ml = ct_mask.sum() * np.prod(CT.spacing_mm) / 1000.0
    assert ct_ml == pytest.approx(true_ml, rel=0.02)
    frac = mask_fraction_on_grid(ct_mask, CT, PET)
    assert frac.dtype == np.float32 and frac.min() >= 0 and frac.max() <= 1
    pet_ml = frac.sum() * np.prod(PET.spacing_mm) / 1000.0
    assert pet_ml == pytest.approx(ct_ml, rel=0.01)  # partial volumes keep the volume
    # voxels deep inside are full, far outside are empty
    inner = _sphere_on(PET, radius=RADIUS - 5)
    outer = ~_sphere_on(PET, radius=RADIUS + 5)
    assert np.all(frac[inner] == 1.0) and np.all(frac[outer] == 0.0)


def test_nearest_follows_the_voxel_centre_rule_point_by_point():
    ct_mask = _sphere_on(CT)
    pet_mask = resample_mask_nearest(ct_mask, CT, PET)
    ct_img = CT.empty_image()
    idx = np.argwhere(np.ones(PET.shape, bool))
    centres = PET.empty_image().index_to_lps(idx)
    kji = np.round(ct_img.lps_to_index(centres)).astype(int)
    inside = np.all((kji >= 0) & (kji < np.asarray(CT.shape)), axis=1)
    expected = np.zeros(len(idx), bool)
    expected[inside] = ct_mask[tuple(kji[inside].T)]
    np.testing.assert_array_equal(pet_mask.reshape(-1), expected)
    # and back: each CT voxel takes the PET voxel that contains its centre
    back = resample_mask_nearest(pet_mask, PET, CT)
    cidx = np.argwhere(np.ones(CT.shape, bool))[::37]
    pk = np.round(PET.empty_image().lps_to_index(CT.empty_image().index_to_lps(cidx))).astype(int)
    ok = np.all((pk >= 0) & (pk < np.asarray(PET.shape)), axis=1)
    np.testing.assert_array_equal(back[tuple(cidx[ok].T)], pet_mask[tuple(pk[ok].T)])


def test_identical_grids_are_copied_not_shared():
    m = _sphere_on(PET)
    out = resample_mask_nearest(m, PET, PET)
    assert out is not m and np.array_equal(out, m)
    np.testing.assert_array_equal(mask_fraction_on_grid(m, PET, PET), m.astype(np.float32))


def test_resample_labelset_keeps_metadata_and_fraction_rule():
    ls = LabelSet(CT)
    ls.add_mask("lesion", _sphere_on(CT), terminology="lesion", tags={"MedLabel.Annotator": "r1"})
    out = resample_labelset(ls, PET, method="fraction")
    assert out.geometry == PET and out.names == ["lesion"]
    assert out["lesion"].tags == {"MedLabel.Annotator": "r1"} and out["lesion"].terminology == ls["lesion"].terminology
    frac = segment_fractions(ls, PET)["lesion"]
    np.testing.assert_array_equal(out["lesion"].mask, frac >= 0.5)
    assert ls.geometry == CT  # input untouched
    with pytest.raises(InputError, match="nearest, fraction"):
        resample_labelset(ls, PET, method="linear")


def test_overlap_checks():
    far = Geometry((10, 10, 10), (1.0, 1.0, 1.0), (500.0, 500.0, 500.0))
    assert overlap_fraction(far, PET) == 0.0
    assert overlap_fraction(PET, PET) == 1.0
    with pytest.raises(GeometryError, match="same PET/CT study"):
        check_grids_overlap(far, PET, what="segment 'x'")


def test_ct_segment_statistics_on_pet_phantom():
    # PET phantom: SUV 8 inside the sphere (by voxel centre), 1 outside
    hot = _sphere_on(PET)
    suv = Image(np.where(hot, 8.0, 1.0), PET.spacing_mm, PET.origin_lps)
    ls = LabelSet(CT)
    ls.add_mask("lesion", _sphere_on(CT))
    near = pet_statistics_table(suv, ls, resample="nearest").iloc[0]
    frac = pet_statistics_table(suv, ls, resample="fraction").iloc[0]
    assert near.resampling == "nearest" and frac.resampling == "fraction"
    # both sides use voxel centres, so only boundary voxels (CT discretisation) may disagree
    assert near.suv_max == 8.0 and near.suv_mean > 7.5
    assert abs(near.voxel_count - hot.sum()) <= 0.05 * hot.sum()
    true_ml = 4 / 3 * math.pi * RADIUS**3 / 1000.0
    assert frac.volume_ml == pytest.approx(true_ml, rel=0.03)
    assert 1.0 < frac.suv_mean < 8.0  # partial-volume voxels at the rim pull the weighted mean down
    far = LabelSet(Geometry((10, 10, 10), (1.0, 1.0, 1.0), (500.0, 500.0, 500.0)))
    far.add_mask("x", np.ones((10, 10, 10), bool))
    with pytest.raises(GeometryError, match="inside the PET volume"):
        pet_statistics_table(suv, far)


@pytest.mark.parametrize("module", ["medlabel.pet.suv", "medlabel.pet.stats", "medlabel.pet.fusion"])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
