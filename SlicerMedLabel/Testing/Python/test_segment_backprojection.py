"""medlabel.segment.back_project: hand-checked arrays, a straightforward reference implementation,
scopes, connectivity rules, edge cases and the L3 phantom (known tissue masks)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from medlabel.errors import InputError
from medlabel.segment import Box, back_project, dice, roi_histogram


def reference_back_projection(image, roi_mask, *, bins=None, edges=None, window=None, threshold):
    """Straightforward version: np.histogram of the ROI, np.digitize of each voxel (numpy's bin rule)."""
    vals = image[roi_mask].astype(np.float64)
    if window is not None:
        vals = vals[(vals >= window[0]) & (vals <= window[1])]
    if edges is None:
        lo, hi = (window if window is not None else (vals.min(), vals.max()))
        edges = np.linspace(lo, hi, bins + 1)
    counts, _ = np.histogram(vals, bins=edges)
    like_tab = counts / counts.max()
    v = image.astype(np.float64)
    idx = np.digitize(v, edges) - 1
    idx[v == edges[-1]] = len(counts) - 1
    inside = (idx >= 0) & (idx < len(counts))
    like = np.zeros(image.shape)
    like[inside] = like_tab[idx[inside]]
    return like, like >= threshold


def test_hand_checked_row():
    img = np.array([[[0, 0, 100, 100, 0, 100, 50]]], dtype=np.int16)
    r = back_project(img, Box.rect(0, 0, 1, 2, 4), spacing_mm=(1, 1, 1), bins=4, threshold=0.5)
    assert r.mask.astype(int).tolist() == [[[0, 0, 1, 1, 0, 1, 0]]]
    # the ROI holds only 100: one bin [99.5, 100.5) after widening a constant ROI -> 50 and 0 get 0
    assert r.likelihood.tolist() == [[[0, 0, 1, 1, 0, 1, 0]]]


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32, np.int32])
@pytest.mark.parametrize("window", [None, (-50, 120)])
def test_identical_to_reference_implementation(dtype, window):
    rng = np.random.default_rng(1)
    mean, sd = (120, 40) if dtype == np.uint8 else (50, 80)
    img = np.clip(rng.normal(mean, sd, (6, 40, 50)), 0 if dtype == np.uint8 else -1000, 255 if dtype == np.uint8 else 3000)
    img = (img if dtype == np.float32 else img.round()).astype(dtype)
    roi = Box(2, 4, 10, 25, 5, 30)
    r = back_project(img, roi, spacing_mm=(2.0, 0.7, 0.7), bins=17, window=window, threshold=0.3)
    like, mask = reference_back_projection(img, roi.to_mask(img.shape), bins=17, window=window, threshold=0.3)
    np.testing.assert_array_equal(r.mask, mask)
    np.testing.assert_allclose(r.likelihood, like, rtol=0, atol=1e-6)
    assert r.mask.any() and not r.mask.all()


def test_bin_width_and_mask_roi_match_reference():
    rng = np.random.default_rng(2)
    img = rng.normal(40, 60, (3, 30, 30)).round().astype(np.int16)
    roi = np.zeros(img.shape, bool)
    roi[1, 5:20, 8:12] = True
    r = back_project(img, roi, spacing_mm=(1, 1, 1), bin_width=10, threshold=0.2)
    assert np.allclose(np.diff(r.histogram.edges), 10)
    assert r.histogram.edges[0] == img[roi].min() and r.histogram.edges[-1] >= img[roi].max()
    _, mask = reference_back_projection(img, roi, edges=r.histogram.edges, threshold=0.2)
    np.testing.assert_array_equal(r.mask, mask)


def test_scopes_slice_slab_mask():
    img = np.full((5, 10, 10), 30, np.int16)
    roi = Box.rect(2, 3, 6, 3, 6)
    vol = back_project(img, roi, spacing_mm=(1, 1, 1), scope="volume")
    assert vol.mask.all()
    sl = back_project(img, roi, spacing_mm=(1, 1, 1), scope="slice")
    assert sl.mask[2].all() and sl.mask.sum() == 100 and sl.likelihood[[0, 1, 3, 4]].max() == 0
    other = back_project(img, roi, spacing_mm=(1, 1, 1), scope="slice", slice_index=4)
    assert other.mask[4].all() and other.mask.sum() == 100
    slab = back_project(img, roi, spacing_mm=(1, 1, 1), scope="slab", slab=(1, 3))
    assert slab.mask[1:3].all() and slab.mask.sum() == 200
    scope = np.zeros(img.shape, bool)
    scope[0, :2, :2] = True
    scope[4, 9, 9] = True
    sm = back_project(img, roi, spacing_mm=(1, 1, 1), scope="mask", scope_mask=scope)
    np.testing.assert_array_equal(sm.mask, scope)
    np.testing.assert_array_equal(sm.scope, scope)


def test_connected_to_roi_and_islands():
    img = np.zeros((1, 30, 30), np.int16)
    img[0, 2:12, 2:12] = 100        # blob touching the ROI
    img[0, 20:28, 20:28] = 100      # same intensity, separate
    img[0, 15, 25] = 100            # single voxel
    roi = Box.rect(0, 4, 8, 4, 8)
    allp = back_project(img, roi, spacing_mm=(1, 1, 1), threshold=0.5)
    assert allp.mask.sum() == 100 + 64 + 1
    conn = back_project(img, roi, spacing_mm=(1, 1, 1), threshold=0.5, connected_to_roi=True)
    assert conn.mask.sum() == 100 and conn.mask[0, 2:12, 2:12].all()
    isl = back_project(img, roi, spacing_mm=(1, 1, 1), threshold=0.5, min_island_vox=2)
    assert isl.mask.sum() == 164 and not isl.mask[0, 15, 25]


def test_smoothing_removes_isolated_hits_keeps_regions():
    img = np.zeros((1, 40, 40), np.int16)
    img[0, 5:25, 5:25] = 100
    img[0, 32, 32] = 100
    roi = Box.rect(0, 8, 20, 8, 20)
    r = back_project(img, roi, spacing_mm=(1, 0.8, 0.8), smoothing_mm=1.5, threshold=0.5)
    assert not r.mask[0, 32, 32]
    assert r.mask[0, 7:23, 7:23].all()
    assert r.likelihood.max() <= 1.0 + 1e-6


def test_two_d_input_returns_two_d():
    img = np.arange(100, dtype=np.int16).reshape(10, 10)
    r = back_project(img, Box.rect(0, 0, 2, 0, 10), spacing_mm=(0.5, 0.5), bins=20, threshold=0.01)
    assert r.mask.shape == (10, 10) and r.likelihood.shape == (10, 10)
    assert r.mask[:2].all() and not r.mask[2:].any()


def test_input_is_not_modified():
    rng = np.random.default_rng(0)
    img = rng.integers(-100, 100, (2, 20, 20)).astype(np.int16)
    roi = np.zeros(img.shape, bool)
    roi[0, 3:9, 3:9] = True
    before, roi_before = img.copy(), roi.copy()
    back_project(img, roi, spacing_mm=(1, 1, 1), smoothing_mm=1.0, connected_to_roi=True, min_island_vox=3)
    np.testing.assert_array_equal(img, before)
    np.testing.assert_array_equal(roi, roi_before)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(roi=Box.rect(0, 50, 60, 0, 5)), "does not overlap"),
    (dict(roi=np.zeros((2, 8, 8), bool)), "empty"),
    (dict(roi=np.ones((3, 8, 8), bool)), "shape"),
    (dict(scope="everything"), "valid scopes"),
    (dict(scope="slab"), "slab="),
    (dict(scope="mask"), "scope_mask"),
    (dict(threshold=1.5), "threshold"),
    (dict(window=(500, 600)), "window"),
    (dict(bins=0), "bins"),
    (dict(bin_width=-1.0), "bin_width"),
    (dict(spacing_mm=(1, 0, 1)), "spacing_mm"),
])
def test_bad_inputs_raise_named_errors(kwargs, match):
    img = np.zeros((2, 8, 8), np.int16)
    args = dict(roi=Box.rect(0, 1, 4, 1, 4), spacing_mm=(1, 1, 1))
    args.update(kwargs)
    roi = args.pop("roi")
    with pytest.raises(InputError, match=match):
        back_project(img, roi, **args)


def test_nan_image_rejected():
    img = np.zeros((1, 5, 5), np.float32)
    img[0, 1, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        back_project(img, Box.rect(0, 0, 2, 0, 2), spacing_mm=(1, 1, 1))


def test_roi_histogram_constant_roi():
    h = roi_histogram(np.full(10, 7.0), bins=8)
    assert h.n_bins == 8 and h.likelihood.max() == 1.0
    assert h.lookup(np.array([7.0, 6.0, 8.0])).tolist() == [1.0, 0.0, 0.0]


def test_phantom_muscle_from_a_rectangle():
    """A rectangle inside the phantom's muscle finds (nearly) all muscle, and only tissue of muscle HU."""
    from medlabel.phantom import make_l3_phantom

    image, truth = make_l3_phantom((1, 256, 256), (3.0, 1.6, 1.6), noise_hu=10)
    muscle = truth["skeletal_muscle"].mask
    core = ndi.binary_erosion(muscle[0], np.ones((5, 5), bool))
    ys, xs = np.nonzero(core)
    y, x = ys[len(ys) // 2], xs[len(xs) // 2]
    roi = np.zeros(muscle.shape, bool)
    roi[0] = core & (np.abs(np.arange(256)[:, None] - y) < 15) & (np.abs(np.arange(256)[None, :] - x) < 15)
    r = back_project(image.array, roi, spacing_mm=image.spacing_mm, scope="slice", bin_width=5, threshold=0.02)
    recall = (r.mask & muscle).sum() / muscle.sum()
    assert recall > 0.95
    lo, hi = r.histogram.edges[0], r.histogram.edges[-1]
    assert lo == image.array[roi].min() and hi - 5 < image.array[roi].max() <= hi
    assert image.array[r.mask].min() >= lo and image.array[r.mask].max() <= hi
    # fat is never found from a muscle rectangle
    assert not (r.mask & truth["subcutaneous_fat"].mask).any()
    assert dice(r.mask & truth["body"].mask, muscle) > 0.5
