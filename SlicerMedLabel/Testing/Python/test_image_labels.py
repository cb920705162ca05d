import numpy as np
import pytest

from medlabel.errors import GeometryError, InputError
from medlabel.image import Image, lps_to_ras
from medlabel.labels import TERMS, Geometry, LabelSet, Segment, Terminology


def test_index_to_lps_roundtrip_with_oblique_direction():
    theta = np.deg2rad(20)
    d = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    img = Image(np.zeros((4, 5, 6)), (2.5, 0.7, 0.8), (10.0, -20.0, 30.0), d)
    kji = np.array([[0, 0, 0], [3, 4, 5], [1, 2, 3]], float)
    lps = img.index_to_lps(kji)
    assert np.allclose(lps[0], (10, -20, 30))
    # i (x axis) step is 0.8 mm along the first direction column
    assert np.allclose(img.index_to_lps([[0, 0, 1]])[0] - lps[0], 0.8 * d[:, 0])
    assert np.allclose(img.lps_to_index(lps), kji)


def test_ras_flip_and_matrix():
    img = Image(np.zeros((2, 3, 4)), (3.0, 2.0, 1.0), (5.0, 6.0, 7.0))
    m = img.ijk_to_ras_matrix()
    assert np.allclose(m[:3, 3], (-5, -6, 7))
    assert np.allclose(np.diag(m)[:3], (-1, -2, 3))
    assert np.allclose(lps_to_ras(lps_to_ras([1, 2, 3])), [1, 2, 3])


def test_image_validation_messages():
    with pytest.raises(InputError, match="spacing_mm"):
        Image(np.zeros((2, 2, 2)), (0, 1, 1))
    with pytest.raises(InputError, match="got shape"):
        Image(np.zeros((2, 2, 2, 2)))
    img = Image(np.zeros((2, 3, 4)))
    with pytest.raises(GeometryError, match="image shape"):
        img.check_same_geometry(Image(np.zeros((2, 3, 5))))


def test_sitk_roundtrip_keeps_geometry():
    img = Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), (3.0, 2.0, 1.0), (5.0, 6.0, 7.0))
    back = Image.from_sitk(img.to_sitk())
    assert back.same_geometry(img)
    assert np.array_equal(back.array, img.array)


def test_labelset_labelmap_roundtrip_and_terms():
    img = Image(np.zeros((1, 4, 4)), (5, 1, 1))
    ls = LabelSet(img)
    m = np.zeros((1, 4, 4), bool)
    m[0, :2] = True
    ls.add_mask("skeletal_muscle", m, tags={"MedLabel.Annotator": "A"})
    ls.add_mask("fat", ~m, terminology="subcutaneous_fat")
    assert ls["skeletal_muscle"].terminology == TERMS["skeletal_muscle"]
    assert ls["fat"].terminology == TERMS["subcutaneous_fat"]
    lm = ls.to_labelmap()
    assert lm.sum() == 8 * 1 + 8 * 2
    back = LabelSet.from_labelmap(lm, ls.geometry, {1: "a", 2: "b"})
    assert back.names == ["a", "b"] and np.array_equal(back["a"].mask, m)
    with pytest.raises(InputError, match="already exists"):
        ls.add_mask("fat", m)
    with pytest.raises(GeometryError):
        ls.add(Segment("x", np.zeros((1, 3, 3))))
    with pytest.raises(InputError, match="':'"):
        Segment("y", m, tags={"a:b": "c"})


def test_terminology_slicer_string_roundtrip():
    t = TERMS["skeletal_muscle"]
    s = t.to_slicer()
    assert "SCT^127954009^Skeletal muscle tissue" in s
    assert Terminology.from_slicer(s) == t
    assert Geometry((1, 2, 3)).matches(Geometry((1, 2, 3)))
