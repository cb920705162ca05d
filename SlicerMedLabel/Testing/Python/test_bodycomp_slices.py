"""Slice choice and the automatic L3 suggestion (medlabel.bodycomp.slices)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import data_path
from medlabel import io
from medlabel.bodycomp import choose_slices, suggest_l3
from medlabel.errors import InputError
from medlabel.phantom import make_l3_phantom


@pytest.fixture(scope="module")
def example_ct():
    return io.read_image(data_path("totalsegmentator/example_ct.nii.gz"))


@pytest.fixture(scope="module")
def vertebrae():
    return io.read_image(data_path("totalsegmentator/example_seg_fast_force_split.nii.gz"))


def test_choice_by_index_position_and_slab():
    image, _ = make_l3_phantom((5, 128, 128), (3.0, 3.2, 3.2))  # z = 0, 3, 6, 9, 12 mm
    c = choose_slices(image, slice_index=2)
    assert (c.indices, c.method, c.centre, c.confidence) == ([2], "index", 2, None)
    c = choose_slices(image, slice_mm=7.1)
    assert c.indices == [2] and c.method == "position_mm" and c.z_mm == [6.0]
    c = choose_slices(image, slice_index=2, slab_slices=3)
    assert c.indices == [1, 2, 3] and c.z_mm == [3.0, 6.0, 9.0]
    assert c.as_text() == "k=1..3 (index)"


def test_choice_errors():
    image, _ = make_l3_phantom((3, 128, 128), (3.0, 3.2, 3.2))
    with pytest.raises(InputError, match="exactly one"):
        choose_slices(image)
    with pytest.raises(InputError, match="exactly one"):
        choose_slices(image, slice_index=1, auto_l3=True)
    with pytest.raises(InputError, match="odd"):
        choose_slices(image, slice_index=1, slab_slices=2)
    with pytest.raises(InputError, match="leaves the image"):
        choose_slices(image, slice_index=0, slab_slices=3)
    with pytest.raises(InputError, match="outside the scan"):
        choose_slices(image, slice_mm=100.0)
    with pytest.raises(InputError, match="outside"):
        choose_slices(image, slice_index=7)


def test_auto_l3_from_vertebra_labels(example_ct, vertebrae):
    s = suggest_l3(example_ct, vertebra_labels=vertebrae)
    assert s.index == 72 and s.range == (65, 79)
    assert s.method == "auto_l3_labels" and s.confidence >= 0.9
    c = choose_slices(example_ct, auto_l3=True, vertebra_labels=vertebrae.array, slab_slices=3)
    assert c.indices == [71, 72, 73] and "label 29" in c.note
    with pytest.raises(InputError, match="labels present"):
        suggest_l3(example_ct, vertebra_labels=np.where(vertebrae.array == 29, 0, vertebrae.array))


def test_auto_l3_from_image_lands_in_l3(example_ct, vertebrae):
    s = suggest_l3(example_ct)
    l3 = np.nonzero((vertebrae.array == 29).any(axis=(1, 2)))[0]
    assert l3.min() <= s.index <= l3.max()
    assert s.method == "auto_l3_image" and s.confidence <= 0.5 and "iliac crest" in s.note


def test_auto_l3_on_dicom_without_pelvis_fully_in_view():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ct = io.read_image(data_path("tcia_crlm/CRLM-CT-1006/image"))
    s = suggest_l3(ct)
    # PROVENANCE.md estimates L3 at k = 6..12 (give or take one level) for this series
    assert 5 <= s.index <= 13
    assert s.confidence < 0.5


def test_auto_l3_fails_clearly_without_landmarks():
    image, _ = make_l3_phantom((3, 128, 128), (3.0, 3.2, 3.2))
    with pytest.raises(InputError, match="choose the slice by hand"):
        suggest_l3(image)
