"""Tests of the synthetic L3 phantom (medlabel.phantom)."""

from __future__ import annotations

import numpy as np
import pytest

from medlabel.errors import InputError
from medlabel.labels import TERMS
from medlabel.phantom import ALBERTA_WINDOWS_HU, TRUTH_NAMES, make_l3_phantom


@pytest.fixture(scope="module")
def full():
    return make_l3_phantom()


def test_geometry_and_meta(full):
    image, truth = full
    assert image.shape == (1, 512, 512)
    assert image.spacing_mm == (3.0, 0.8, 0.8)
    assert image.array.dtype == np.int16
    assert truth.geometry.shape == image.shape
    assert truth.names == list(TRUTH_NAMES)
    # the centre of the grid is x = y = 0 in patient coordinates
    centre = image.index_to_lps([[0, 255.5, 255.5]])[0]
    assert np.allclose(centre[:2], 0.0)
    assert image.meta["PatientSex"] == "M" and image.meta["PatientSize"] == 1.75


def test_truth_areas_are_pixel_count_times_pixel_area(full):
    image, truth = full
    for name in TRUTH_NAMES:
        count = int(truth[name].mask.sum())
        assert count > 0, name
        assert image.meta["truth_areas_cm2"][name][0] == pytest.approx(count * 0.8 * 0.8 / 100.0, rel=1e-12)


def test_body_area_matches_ellipse_formula(full):
    image, truth = full
    # the body is an ellipse with semi-axes 165 x 120 mm: pi*a*b; pixelisation error is < 0.5 %
    assert image.meta["truth_areas_cm2"]["body"][0] == pytest.approx(np.pi * 16.5 * 12.0, rel=5e-3)


def test_segments_partition_the_body(full):
    _, truth = full
    parts = [truth[n].mask.astype(int) for n in TRUTH_NAMES if n != "body"]
    total = np.sum(parts, axis=0)
    assert total.max() == 1
    assert np.array_equal(total == 1, truth["body"].mask)


def test_terminology(full):
    _, truth = full
    assert truth["skeletal_muscle"].terminology == TERMS["skeletal_muscle"]
    assert truth["subcutaneous_fat"].terminology == TERMS["subcutaneous_fat"]
    assert truth["visceral_fat"].terminology == TERMS["visceral_fat"]
    assert truth["vertebra"].terminology == TERMS["vertebra"]
    assert truth["skeletal_muscle"].tags["MedLabel.Source"] == "phantom"


def test_hu_inside_alberta_windows_but_noisy(full):
    image, truth = full
    hu = image.array[0].astype(float)
    for name, (lo, hi) in ALBERTA_WINDOWS_HU.items():
        vals = hu[truth[name].mask[0]]
        inside = np.mean((vals >= lo) & (vals <= hi))
        assert inside >= 0.99, (name, inside)
        assert 5.0 < vals.std() < 15.0, name  # noise is there (default 10 HU)
    # air is air, bone is bright
    assert np.median(hu[~truth["body"].mask[0]]) < -900
    assert np.median(hu[truth["vertebra"].mask[0]]) > 150


def test_anatomy_sat_outside_muscle_vat_inside(full):
    image, truth = full
    from scipy import ndimage as ndi

    # filling the muscle ring's holes covers all visceral fat but no subcutaneous fat
    filled = ndi.binary_fill_holes(truth["skeletal_muscle"].mask[0] | truth["intermuscular_fat"].mask[0])
    assert filled[truth["visceral_fat"].mask[0]].all()
    assert not filled[truth["subcutaneous_fat"].mask[0]].any()
    # intermuscular fat islands are surrounded by muscle
    grown = ndi.binary_dilation(truth["intermuscular_fat"].mask[0], iterations=1)
    ring = grown & ~truth["intermuscular_fat"].mask[0]
    assert truth["skeletal_muscle"].mask[0][ring].mean() > 0.9


def test_reproducible_and_seeded():
    a, _ = make_l3_phantom((1, 128, 128), (3.0, 3.2, 3.2), seed=1)
    b, _ = make_l3_phantom((1, 128, 128), (3.0, 3.2, 3.2), seed=1)
    c, _ = make_l3_phantom((1, 128, 128), (3.0, 3.2, 3.2), seed=2)
    assert np.array_equal(a.array, b.array)
    assert not np.array_equal(a.array, c.array)


def test_slab_varies_along_z():
    image, truth = make_l3_phantom((3, 200, 200), (3.0, 2.0, 2.0), z_variation=0.04)
    areas = image.meta["truth_areas_cm2"]["body"]
    assert len(areas) == 3 and areas[0] < areas[1] < areas[2]
    assert image.slice_z_mm().tolist() == pytest.approx([0.0, 3.0, 6.0])


def test_coarse_grid_area_close_to_fine_grid():
    fine, _ = make_l3_phantom()
    coarse, _ = make_l3_phantom((1, 128, 128), (3.0, 3.2, 3.2))
    for name in ("body", "subcutaneous_fat", "skeletal_muscle", "visceral_fat"):
        f = fine.meta["truth_areas_cm2"][name][0]
        c = coarse.meta["truth_areas_cm2"][name][0]
        assert c == pytest.approx(f, rel=0.06), name


def test_missing_tags_and_bad_inputs():
    image, _ = make_l3_phantom((1, 128, 128), (3.0, 3.2, 3.2), sex=None, height_m=None, weight_kg=None)
    assert "PatientSex" not in image.meta and "PatientSize" not in image.meta
    with pytest.raises(InputError, match="field of view"):
        make_l3_phantom((1, 64, 64), (3.0, 0.8, 0.8))
    with pytest.raises(InputError, match="noise_hu"):
        make_l3_phantom(noise_hu=50)
    with pytest.raises(InputError, match="spacing_mm"):
        make_l3_phantom(spacing_mm=(3.0, 0.0, 0.8))
