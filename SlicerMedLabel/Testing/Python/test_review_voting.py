"""Voting consensus against direct counts and SimpleITK's LabelVoting."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from medlabel.errors import InputError
from medlabel.review.voting import k_of_n, label_majority, majority_vote, performance_weights, weighted_vote


def masks(n=5, seed=0, shape=(4, 9, 11)):
    rng = np.random.default_rng(seed)
    return [rng.random(shape) < 0.4 + 0.05 * k for k in range(n)]


def test_k_of_n_union_intersection_and_counts():
    ms = masks()
    s = np.sum(ms, axis=0)
    np.testing.assert_array_equal(k_of_n(ms, k=1), np.logical_or.reduce(ms))
    np.testing.assert_array_equal(k_of_n(ms, k=5), np.logical_and.reduce(ms))
    np.testing.assert_array_equal(k_of_n(ms, k=3), s >= 3)
    with pytest.raises(InputError, match="k must be between 1"):
        k_of_n(ms, k=6)


def test_majority_with_even_number_and_ties():
    a = np.array([[[1, 1, 0, 0]]], bool)
    b = np.array([[[1, 0, 1, 0]]], bool)
    assert majority_vote([a, b]).tolist() == [[[True, False, False, False]]]
    assert majority_vote([a, b], ties=True).tolist() == [[[True, True, True, False]]]


def test_weighted_vote_follows_the_weights():
    ms = masks(3, 2)
    np.testing.assert_array_equal(weighted_vote(ms, weights=[1, 0, 0]), ms[0])
    np.testing.assert_array_equal(weighted_vote(ms, weights=[1, 1, 1]), np.sum(ms, axis=0) >= 1.5)
    np.testing.assert_array_equal(weighted_vote(ms, weights=[2, 1, 1]),
                                  (2 * ms[0] + ms[1].astype(int) + ms[2]) >= 2)
    with pytest.raises(InputError, match="weights"):
        weighted_vote(ms, weights=[1, 1])
    assert performance_weights([0.9, 0.5], [0.95, 0.4]).tolist() == pytest.approx([0.85, 0.0])


def test_label_majority_matches_simpleitk_label_voting():
    rng = np.random.default_rng(5)
    maps = [rng.integers(0, 4, (5, 12, 13)).astype(np.uint8) for _ in range(4)]
    ref = sitk.GetArrayFromImage(sitk.LabelVoting([sitk.GetImageFromArray(m) for m in maps]))
    np.testing.assert_array_equal(label_majority(maps), ref)
