"""STAPLE (binary and multi-label) against SimpleITK on synthetic blobs and the LIDC readers."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage as ndi

from conftest import data_path
from medlabel.errors import InputError
from medlabel.review.staple import multilabel_staple, staple


def blobs(shape, n, seed, spread=0.3):
    """n correlated random blobs: one smooth field plus per-annotator smooth noise and threshold shift."""
    r = np.random.default_rng(seed)
    base = ndi.gaussian_filter(r.standard_normal(shape), 3)
    out = []
    for k in range(n):
        noise = ndi.gaussian_filter(r.standard_normal(shape), 2) * spread * (k + 1) / n
        out.append((base + noise) > 0.04 * (k - n / 2))
    return out


def lidc_readers():
    return [sitk.GetArrayFromImage(sitk.ReadImage(str(data_path(f"lidc_idri_0314/reader{i}.nii.gz"))))
            for i in range(1, 5)]


def sitk_staple(masks):
    f = sitk.STAPLEImageFilter()
    out = f.Execute([sitk.GetImageFromArray(np.asarray(m).astype(np.uint8)) for m in masks])
    return sitk.GetArrayFromImage(out), np.array(f.GetSensitivity()), np.array(f.GetSpecificity()), \
        f.GetElapsedIterations()


def sitk_multilabel(maps):
    f = sitk.MultiLabelSTAPLEImageFilter()
    out = f.Execute([sitk.GetImageFromArray(np.asarray(m)) for m in maps])
    return sitk.GetArrayFromImage(out), f


@pytest.mark.parametrize("shape,n,seed", [((12, 30, 40), 3, 0), ((20, 40, 50), 5, 3), ((8, 64, 64), 4, 11),
                                          ((1, 80, 90), 7, 5)])
def test_binary_matches_simpleitk_on_blobs(shape, n, seed):
    masks = blobs(shape, n, seed)
    prob, sens, spec, iters = sitk_staple(masks)
    r = staple(masks)
    assert np.abs(r.probability - prob).max() < 1e-6
    np.testing.assert_array_equal(r.mask, prob >= 0.5)
    np.testing.assert_allclose(r.sensitivity, sens, atol=1e-9)
    np.testing.assert_allclose(r.specificity, spec, atol=1e-9)
    assert r.iterations == iters


def test_binary_matches_simpleitk_on_lidc_readers():
    readers = lidc_readers()
    prob, sens, spec, iters = sitk_staple(readers)
    r = staple(readers)  # uint8 0/1 maps: foreground_value=1 as in ITK
    assert np.abs(r.probability - prob).max() < 1e-6
    np.testing.assert_array_equal(r.mask, prob >= 0.5)
    np.testing.assert_allclose(r.sensitivity, sens, atol=1e-9)
    np.testing.assert_allclose(r.specificity, spec, atol=1e-9)
    assert r.iterations == iters
    # the consensus lies between the smallest and the largest reader
    sizes = [int(m.sum()) for m in readers]
    assert min(sizes) <= int(r.mask.sum()) <= max(sizes)


def test_binary_foreground_value_and_threshold():
    masks = [m.astype(np.uint8) * 7 for m in blobs((6, 20, 20), 3, 2)]
    prob, *_ = sitk_staple([m == 7 for m in masks])
    r = staple(masks, foreground_value=7, threshold=0.9)
    assert np.abs(r.probability - prob).max() < 1e-6
    np.testing.assert_array_equal(r.mask, prob >= 0.9)


@pytest.mark.parametrize("seed", [1, 4])
def test_multilabel_matches_simpleitk_on_blobs(seed):
    a, b = blobs((16, 36, 44), 5, seed), blobs((16, 36, 44), 5, seed + 100)
    maps = [x.astype(np.uint8) + 2 * y.astype(np.uint8) for x, y in zip(a, b, strict=True)]  # labels 0..3
    labels, f = sitk_multilabel(maps)
    r = multilabel_staple(maps)
    np.testing.assert_array_equal(r.labels, labels)
    for k in range(5):
        cm = np.array(f.GetConfusionMatrix(k)).reshape(r.confusion[k].shape)
        np.testing.assert_allclose(r.confusion[k], cm, atol=1e-6)


def test_multilabel_matches_simpleitk_on_lidc_with_undecided():
    readers = lidc_readers()
    z, y, x = np.nonzero(np.logical_or.reduce(readers))
    crop = (slice(None), slice(y.min() - 12, y.max() + 12), slice(x.min() - 12, x.max() + 12))
    readers = [r[crop] for r in readers]  # all 29 slices around the nodule; keeps the test fast
    # label 2 = core (eroded reader mask) so there are 3 labels and plenty of ties between 4 readers
    maps = [m + ndi.binary_erosion(m, iterations=1).astype(np.uint8) for m in readers]
    labels, f = sitk_multilabel(maps)
    r = multilabel_staple(maps)
    np.testing.assert_array_equal(r.labels, labels)
    for k in range(4):
        cm = np.array(f.GetConfusionMatrix(k)).reshape(r.confusion[k].shape)
        np.testing.assert_allclose(r.confusion[k], cm, atol=1e-6)
    # probabilities of all labels sum to 1
    total = sum(r.probability(lv) for lv in range(3))
    np.testing.assert_allclose(total[labels < 3], 1.0, atol=1e-12)


def test_all_empty_gives_empty_consensus_without_nan():
    masks = [np.zeros((4, 10, 10), bool)] * 3
    r = staple(masks)
    assert not r.mask.any() and np.all(r.probability == 0) and np.isfinite(r.sensitivity).all()
    prob, *_ = sitk_staple(masks)
    assert np.isnan(prob).all()  # what SimpleITK does, and why we special-case it
    m = multilabel_staple([np.zeros((4, 10, 10), np.uint8)] * 3)
    assert not m.labels.any()


def test_all_full_and_unanimous():
    full = [np.ones((3, 5, 5), bool)] * 4
    assert staple(full).mask.all()
    one = blobs((6, 20, 20), 1, 9)[0]
    r = staple([one, one, one])
    np.testing.assert_array_equal(r.mask, one)


def test_more_than_2_pow_24_voxels_equals_tiled_small_case():
    """Scaling all voxel counts leaves STAPLE unchanged; a float32 accumulator (SimpleITK) would drift."""
    small = blobs((1, 48, 64), 4, 8)
    reps = (1 << 24) // small[0].size + 1
    big = [np.tile(m, (reps, 1, 1)) for m in small]
    assert big[0].size > 1 << 24
    rs, rb = staple(small), staple(big)
    np.testing.assert_allclose(rb.sensitivity, rs.sensitivity, rtol=1e-9)
    np.testing.assert_array_equal(rb.mask[:1], rs.mask)
    assert rb.mask[-1].sum() == rs.mask.sum()
    maps = [m.astype(np.uint8) + ndi.binary_erosion(m).astype(np.uint8) for m in small]
    ms, mb = multilabel_staple(maps), multilabel_staple([np.tile(m, (reps, 1, 1)) for m in maps])
    np.testing.assert_allclose(mb.confusion, ms.confusion, atol=1e-9)
    np.testing.assert_array_equal(mb.labels[:1], ms.labels)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(InputError, match="annotation 1 has shape"):
        staple([np.zeros((2, 3, 3), bool), np.zeros((2, 3, 4), bool)])
    with pytest.raises(InputError, match="no annotations"):
        staple([])
    with pytest.raises(InputError, match="threshold"):
        staple([np.zeros((2, 3, 3), bool)], threshold=0)
    with pytest.raises(InputError, match="dtype"):
        multilabel_staple([np.zeros((2, 3, 3), float)])
    with pytest.raises(InputError, match="prior"):
        multilabel_staple([np.array([[[0, 1, 2]]], np.uint8)], prior=[0.5, 0.5])


def test_inputs_not_modified():
    masks = blobs((6, 20, 20), 3, 6)
    before = [m.copy() for m in masks]
    staple(masks)
    for a, b in zip(masks, before, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [10, 22])  # 16-bit pattern codes, and the np.unique path beyond 2**20 patterns
def test_many_annotators_match_simpleitk(n):
    masks = blobs((4, 24, 30), n, 13, spread=0.6)
    prob, sens, spec, iters = sitk_staple(masks)
    r = staple(masks)
    assert np.abs(r.probability - prob).max() < 1e-6
    np.testing.assert_array_equal(r.mask, prob >= 0.5)
    np.testing.assert_allclose(r.sensitivity, sens, atol=1e-9)
    assert r.iterations == iters


def test_convergence_settings():
    masks = blobs((12, 30, 40), 4, 21)
    full = staple(masks)
    loose = staple(masks, min_squared_change=1e-6)
    capped = staple(masks, max_iterations=3)
    assert loose.iterations < full.iterations and capped.iterations == 3
    f = sitk.STAPLEImageFilter()
    f.SetMaximumIterations(3)
    prob = sitk.GetArrayFromImage(f.Execute([sitk.GetImageFromArray(m.astype(np.uint8)) for m in masks]))
    assert np.abs(capped.probability - prob).max() < 1e-6  # SimpleITK's cap behaves the same
    ml_full = multilabel_staple([m.astype(np.uint8) for m in masks])
    ml_loose = multilabel_staple([m.astype(np.uint8) for m in masks], termination_threshold=1e-2)
    assert ml_loose.iterations < ml_full.iterations
