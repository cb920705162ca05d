"""Simulated annotators on the L3 phantom: known truth, so the consensus can be checked."""

from __future__ import annotations

import numpy as np
import pytest

from medlabel.labels import TAG_ANNOTATOR, TAG_SKILL, LabelSet
from medlabel.phantom import make_l3_phantom
from medlabel.review.agreement import dice
from medlabel.review.inputs import annotation_from_labelset
from medlabel.review.simulate import AnnotatorProfile, signed_distance_mm, simulate_annotators, simulate_mask
from medlabel.review.staple import staple
from medlabel.review.voting import majority_vote

STRUCTURES = ["skeletal_muscle", "vertebra", "visceral_fat", "subcutaneous_fat"]


@pytest.fixture(scope="module")
def phantom():
    image, truth = make_l3_phantom((4, 256, 256), (3.0, 1.6, 1.6), noise_hu=5)
    return image, LabelSet(truth.geometry, [truth[s] for s in STRUCTURES])


def test_signed_distance_is_in_mm_on_anisotropic_grids():
    m = np.zeros((5, 20, 20), bool)
    m[:, 5:15, 5:15] = True
    sd = signed_distance_mm(m, spacing_mm=(3.0, 2.0, 0.5))
    assert sd[2, 10, 10] > 0 and sd[2, 0, 10] < 0
    assert sd[2, 10, 2] == pytest.approx(-(1.5 - 0.25), abs=1e-5)  # 3 voxels * 0.5 mm to the first inside voxel; surface half a voxel nearer


def test_bias_erodes_and_dilates_by_the_given_mm(phantom):
    _, truth = phantom
    t = truth["vertebra"].mask
    sp = truth.geometry.spacing_mm
    big = simulate_mask(t, AnnotatorProfile("a", bias_mm=3.2, noise_mm=0), spacing_mm=sp, seed=0)
    small = simulate_mask(t, AnnotatorProfile("b", bias_mm=-3.2, noise_mm=0), spacing_mm=sp, seed=0)
    assert small.sum() < t.sum() < big.sum()
    assert np.all(big[t]) and not np.any(small & ~t)


def test_seeded_and_reproducible(phantom):
    _, truth = phantom
    a = simulate_annotators(truth, n=3, seed=4, novices=1)
    b = simulate_annotators(truth, n=3, seed=4, novices=1)
    c = simulate_annotators(truth, n=3, seed=5, novices=1)
    for x, y in zip(a, b, strict=True):
        for s in STRUCTURES:
            np.testing.assert_array_equal(x[s].mask, y[s].mask)
    assert any(not np.array_equal(a[0][s].mask, c[0][s].mask) for s in STRUCTURES)
    assert a[2][STRUCTURES[0]].tags[TAG_SKILL] == "novice" and a[0][STRUCTURES[0]].tags[TAG_ANNOTATOR] == "annotator1"
    assert annotation_from_labelset(a[1]).annotator == "annotator2"


def test_consensus_beats_the_average_annotator_on_the_phantom(phantom):
    _, truth = phantom
    anns = simulate_annotators(truth, n=5, seed=1, novices=2)
    for s in STRUCTURES:
        t = truth[s].mask
        masks = [a[s].mask for a in anns]
        each = [dice(m, t) for m in masks]
        cons = staple(masks).mask
        assert dice(cons, t) > np.mean(each), s
        assert dice(majority_vote(masks), t) > np.mean(each), s


def test_array_input_needs_spacing():
    from medlabel.errors import InputError

    with pytest.raises(InputError, match="spacing_mm"):
        simulate_annotators(np.ones((2, 4, 4), bool), n=2)
