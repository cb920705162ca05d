"""Tissue metrics (medlabel.bodycomp.metrics): hand-checked arrays, slab averaging, edits."""

from __future__ import annotations

import numpy as np
import pytest

from medlabel.bodycomp import tissue_metrics
from medlabel.errors import GeometryError, InputError
from medlabel.image import Image
from medlabel.labels import LabelSet
from medlabel.phantom import make_l3_phantom


def tiny():
    """2 slices of 4x5 pixels, 0.5 x 2 mm (pixel area 1 mm² = 0.01 cm²)."""
    hu = np.array([[[10, 20, 30, -50, -100],
                    [40, 50, 60, -60, -100],
                    [0, 0, 0, 0, 0],
                    [0, 0, 0, 0, 0]],
                   [[-20, 25, 100, -70, -100],
                    [0, 0, 0, 0, 0],
                    [0, 0, 0, 0, 0],
                    [0, 0, 0, 0, 0]]], dtype=np.int16)
    image = Image(hu, (3.0, 0.5, 2.0))
    muscle = np.zeros(hu.shape, bool)
    muscle[0, :2, :3] = True      # 6 pixels: 10 20 30 40 50 60
    muscle[1, 0, :3] = True       # 3 pixels: -20 25 100
    fat = np.zeros(hu.shape, bool)
    fat[0, :2, 3] = True          # -50 -60
    labels = LabelSet(image)
    labels.add_mask("skeletal_muscle", muscle)
    labels.add_mask("subcutaneous_fat", fat)
    return image, labels


def test_single_slice_by_hand():
    image, labels = tiny()
    df = tissue_metrics(image, labels, slice_indices=[0]).set_index("tissue")
    m = df.loc["skeletal_muscle"]
    assert m["pixel_count"] == 6
    assert m["area_cm2"] == pytest.approx(0.06)
    assert m["mean_hu"] == pytest.approx(35.0)
    assert m["sd_hu"] == pytest.approx(np.std([10, 20, 30, 40, 50, 60], ddof=1))
    assert (m["min_hu"], m["max_hu"]) == (10, 60)
    assert m["low_attenuation_fraction"] == pytest.approx(2 / 6)  # 10 and 20 lie in -29..29
    s = df.loc["subcutaneous_fat"]
    assert s["area_cm2"] == pytest.approx(0.02) and s["mean_hu"] == pytest.approx(-55.0)
    assert np.isnan(s["low_attenuation_fraction"])
    # a tissue without a segment: zero area, NaN statistics
    v = df.loc["visceral_fat"]
    assert v["area_cm2"] == 0 and v["pixel_count"] == 0 and np.isnan(v["mean_hu"])


def test_slab_averages_areas_and_pools_hu():
    image, labels = tiny()
    m = tissue_metrics(image, labels, slice_indices=[0, 1]).set_index("tissue").loc["skeletal_muscle"]
    assert m["n_slices"] == 2 and m["pixel_count"] == 9
    assert m["area_cm2"] == pytest.approx((0.06 + 0.03) / 2)
    assert m["area_sd_cm2"] == pytest.approx(0.015)
    vals = [10, 20, 30, 40, 50, 60, -20, 25, 100]
    assert m["mean_hu"] == pytest.approx(np.mean(vals))
    assert m["low_attenuation_fraction"] == pytest.approx(4 / 9)


def test_recompute_after_edit_changes_area_by_exact_pixels():
    image, truth = make_l3_phantom()
    before = tissue_metrics(image, truth, slice_indices=[0]).set_index("tissue").loc["skeletal_muscle", "area_cm2"]
    edited = truth.copy()
    mask = edited["skeletal_muscle"].mask.copy()
    ys, xs = np.nonzero(mask[0])
    mask[0, ys[:500], xs[:500]] = False  # the user erases 500 muscle pixels
    edited.add_mask("skeletal_muscle", mask, replace_existing=True)
    after = tissue_metrics(image, edited, slice_indices=[0]).set_index("tissue").loc["skeletal_muscle", "area_cm2"]
    assert before - after == pytest.approx(500 * 0.64 / 100)
    assert truth["skeletal_muscle"].mask.sum() == len(ys)  # the input label set was not changed


def test_errors():
    image, labels = tiny()
    other = LabelSet(Image(np.zeros((1, 4, 5)), (3.0, 0.5, 2.0)))
    with pytest.raises(GeometryError, match="label grid"):
        tissue_metrics(image, other, slice_indices=[0])
    with pytest.raises(InputError, match="outside"):
        tissue_metrics(image, labels, slice_indices=[5])
    with pytest.raises(InputError, match="empty"):
        tissue_metrics(image, labels, slice_indices=[])
