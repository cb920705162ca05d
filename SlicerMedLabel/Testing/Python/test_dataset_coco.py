"""medlabel.dataset.coco: polygons from masks and back, boxes, windowing, COCO format check."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.draw import polygon2mask

from medlabel.dataset.coco import (
    WINDOWS,
    mask_bbox,
    mask_to_polygons,
    parse_window,
    polygons_to_mask,
    to_uint8,
    validate_coco,
    window_limits,
)
from medlabel.errors import InputError
from medlabel.phantom import make_l3_phantom


def test_single_pixel_polygon_and_box_by_hand():
    m = np.zeros((5, 6), bool)
    m[2, 3] = True  # row 2, column 3: the square [3, 4) x [2, 3) in COCO coordinates
    outer, holes = mask_to_polygons(m)
    assert holes == []
    assert len(outer) == 1
    xy = np.asarray(outer[0]).reshape(-1, 2)
    # a diamond through the mid-points of the pixel's edges
    assert sorted(map(tuple, xy)) == [(3.0, 2.5), (3.5, 2.0), (3.5, 3.0), (4.0, 2.5)]
    bbox, xyxy = mask_bbox(m)
    assert bbox == [3.0, 2.0, 1.0, 1.0]
    assert xyxy == [3.0, 2.0, 4.0, 3.0]
    np.testing.assert_array_equal(polygons_to_mask(outer, m.shape), m)


def test_rectangle_box_and_polygon_extent():
    m = np.zeros((20, 30), bool)
    m[4:9, 10:22] = True  # rows 4..8, columns 10..21
    bbox, xyxy = mask_bbox(m)
    assert bbox == [10.0, 4.0, 12.0, 5.0]
    assert xyxy == [10.0, 4.0, 22.0, 9.0]
    outer, _ = mask_to_polygons(m)
    xy = np.asarray(outer[0]).reshape(-1, 2)
    # straight runs of the contour lie on the pixel edges, so the polygon touches the box, never leaves it
    assert xy[:, 0].min() == 10.0 and xy[:, 0].max() == 22.0
    assert xy[:, 1].min() == 4.0 and xy[:, 1].max() == 9.0


def test_holes_and_islands_round_trip_exactly():
    m = np.zeros((40, 40), bool)
    m[5:35, 5:35] = True
    m[10:30, 10:30] = False  # hole
    m[15:25, 15:25] = True  # island inside the hole
    m[18:22, 18:22] = False  # hole inside the island
    m[0, 0] = m[39, 39] = True  # pixels on the border
    outer, holes = mask_to_polygons(m)
    assert len(outer) == 4 and len(holes) == 2
    np.testing.assert_array_equal(polygons_to_mask(outer, m.shape, holes), m)
    # what a plain COCO reader sees (union of the outer polygons) is the mask with holes filled
    filled = np.zeros_like(m)
    for label in range(1, ndimage.label(m)[1] + 1):
        filled |= ndimage.binary_fill_holes(ndimage.label(m)[0] == label)
    union = np.zeros_like(m)
    for poly in outer:
        union |= polygon2mask(m.shape, np.asarray(poly).reshape(-1, 2)[:, ::-1] - 0.5)
    np.testing.assert_array_equal(union, filled)


def test_phantom_tissues_round_trip():
    _, truth = make_l3_phantom((1, 256, 256), (3.0, 1.6, 1.6), noise_hu=0)
    for seg in truth:
        mask = seg.mask[0]
        outer, holes = mask_to_polygons(mask)
        back = polygons_to_mask(outer, mask.shape, holes)
        assert np.count_nonzero(back != mask) == 0, seg.name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_blobs_round_trip(seed):
    rng = np.random.default_rng(seed)
    mask = ndimage.gaussian_filter(rng.normal(size=(64, 48)), 2.0) > 0.05
    outer, holes = mask_to_polygons(mask)
    back = polygons_to_mask(outer, mask.shape, holes)
    # exact except pixel centres that lie exactly on a diagonal contour edge
    assert np.count_nonzero(back != mask) <= 0.005 * mask.sum()


def test_simplified_polygons_stay_close():
    _, truth = make_l3_phantom((1, 256, 256), (3.0, 1.6, 1.6), noise_hu=0)
    mask = truth["subcutaneous_fat"].mask[0]
    full, full_holes = mask_to_polygons(mask)
    simple, simple_holes = mask_to_polygons(mask, tolerance_px=0.5)
    assert sum(map(len, simple)) < sum(map(len, full))
    back = polygons_to_mask(simple, mask.shape, simple_holes)
    inter = np.logical_and(back, mask).sum()
    assert 2 * inter / (back.sum() + mask.sum()) > 0.97


def test_empty_mask_gives_no_polygon_and_box_raises():
    m = np.zeros((4, 4), bool)
    assert mask_to_polygons(m) == ([], [])
    with pytest.raises(InputError, match="empty"):
        mask_bbox(m)
    with pytest.raises(InputError, match="2-D"):
        mask_to_polygons(np.zeros((2, 4, 4), bool))


def test_windowing():
    assert window_limits(np.zeros((2, 2)), "CT", "auto") == (-160.0, 240.0)
    assert window_limits(np.zeros((2, 2)), "CT", "lung") == (-1350.0, 150.0)
    assert window_limits(np.zeros((2, 2)), "CT", "-600,1500") == (-1350.0, 150.0)
    assert parse_window((40, 400)) == WINDOWS["soft_tissue"]
    pet = np.arange(1001, dtype=float)  # percentiles 0.5 and 99.5 of 0..1000 are 5 and 995
    assert window_limits(pet, "PT", "auto") == pytest.approx((5.0, 995.0))
    hu = np.array([-1000, -160, 40, 239.9, 240, 3000])
    np.testing.assert_array_equal(to_uint8(hu, -160, 240), [0, 0, 128, 255, 255, 255])
    with pytest.raises(InputError, match="preset"):
        parse_window("nonsense")
    with pytest.raises(InputError, match="width"):
        parse_window("40,-5")


def _tiny_coco():
    return {"info": {}, "licenses": [], "categories": [{"id": 1, "name": "a", "supercategory": "s"}],
            "images": [{"id": 1, "file_name": "x.png", "width": 10, "height": 8}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1.0, 1.0, 2.0, 2.0], "area": 4.0,
                             "iscrowd": 0, "segmentation": [[1.5, 1.0, 3.0, 1.5, 2.5, 3.0, 1.0, 2.5]]}]}


def test_validate_coco_accepts_good_and_names_problems():
    good = _tiny_coco()
    assert validate_coco(good) == []
    bad = _tiny_coco()
    bad["annotations"][0]["image_id"] = 7
    bad["annotations"][0]["bbox"] = [9.0, 1.0, 5.0, 2.0]
    bad["annotations"][0]["segmentation"] = [[1.0, 2.0, 3.0]]
    bad["categories"].append({"id": 1, "name": "b", "supercategory": "s"})
    text = "; ".join(validate_coco(bad))
    assert "missing image 7" in text and "duplicate category id 1" in text
    assert "polygon" in text
    bad2 = _tiny_coco()
    bad2["annotations"][0]["bbox"] = [9.0, 1.0, 5.0, 2.0]
    assert any("outside" in p for p in validate_coco(bad2))
    bad3 = _tiny_coco()
    del bad3["images"]
    assert validate_coco(bad3) == ["missing top-level key 'images'"]
    bad4 = _tiny_coco()
    bad4["images"][0]["width"] = "10"
    assert any("'width' is str" in p for p in validate_coco(bad4))
    bad5 = _tiny_coco()
    bad5["images"].append({"id": 2, "file_name": "x.png", "width": 10, "height": 8})
    assert validate_coco(bad5) == ["image 2: file_name 'x.png' is used twice"]


def test_rasteriser_agrees_with_skimage_polygon2mask():
    # peer: skimage.draw.polygon2mask (even-odd point-in-polygon per pixel centre) on random polygons,
    # self-intersecting ones included, partly outside the image
    rng = np.random.default_rng(0)
    for _ in range(100):
        xy = rng.uniform(-5, 45, (int(rng.integers(3, 12)), 2))
        ours = polygons_to_mask([xy.ravel().tolist()], (40, 36))
        peer = polygon2mask((40, 36), xy[:, ::-1] - 0.5)
        np.testing.assert_array_equal(ours, peer)
    with pytest.raises(InputError, match="3 vertices"):
        polygons_to_mask([[1.0, 2.0, 3.0, 4.0]], (5, 5))
