"""Agreement metrics: hand-checked arrays, published kappa examples, SimpleITK and brute-force peers."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage as ndi
from scipy.spatial.distance import cdist

from conftest import data_path
from medlabel.errors import InputError
from medlabel.review.agreement import (
    agreement_tables,
    cohen_kappa,
    dice,
    disagreement_map,
    fleiss_kappa,
    iou,
    surface_metrics,
)


def ball(shape, centre, radius_mm, spacing):
    z, y, x = np.ogrid[:shape[0], :shape[1], :shape[2]]
    return ((z * spacing[0] - centre[0]) ** 2 + (y * spacing[1] - centre[1]) ** 2
            + (x * spacing[2] - centre[2]) ** 2) <= radius_mm ** 2


def brute_force(a, b, spacing):
    """Independent reference: surfaces by 6-connected erosion, all-pairs distances."""
    st = ndi.generate_binary_structure(3, 1)
    sa = np.argwhere(a & ~ndi.binary_erosion(a, st, border_value=0)) * spacing
    sb = np.argwhere(b & ~ndi.binary_erosion(b, st, border_value=0)) * spacing
    d = cdist(sa, sb)
    dab, dba = d.min(axis=1), d.min(axis=0)
    return {"hd_mm": max(dab.max(), dba.max()),
            "hd95_mm": max(np.percentile(dab, 95), np.percentile(dba, 95)),
            "msd_mm": (dab.sum() + dba.sum()) / (len(dab) + len(dba)),
            "surface_dice": (np.sum(dab <= 2.0) + np.sum(dba <= 2.0)) / (len(dab) + len(dba))}


def test_dice_iou_hand_checked():
    a = np.zeros((1, 2, 4), bool)
    a[0, :, :2] = True  # 4 voxels
    b = np.zeros((1, 2, 4), bool)
    b[0, :, 1:] = True  # 6 voxels, 2 shared
    assert dice(a, b) == pytest.approx(2 * 2 / 10)
    assert iou(a, b) == pytest.approx(2 / 8)
    empty = np.zeros_like(a)
    assert dice(empty, empty) == 1.0 and iou(empty, empty) == 1.0
    assert dice(a, empty) == 0.0


@pytest.mark.parametrize("method", ["kdtree", "slices", "edt"])
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (3.0, 0.8, 0.8), (2.0, 1.0, 0.5)])
def test_surface_metrics_match_brute_force(spacing, method):
    shape = (14, 30, 36)
    a = ball(shape, (20, 12, 9), 9, spacing)
    b = ball(shape, (21, 13, 11), 8, spacing) | ball(shape, (10, 18, 12), 4, spacing)
    got = surface_metrics(a, b, spacing_mm=spacing, tolerance_mm=2.0, distance_method=method)
    ref = brute_force(a, b, np.asarray(spacing))
    for key, v in ref.items():
        assert got[key] == pytest.approx(v, abs=1e-9 if method == "kdtree" else 1e-4), key


def test_hausdorff_matches_simpleitk_on_lidc_readers():
    imgs = [sitk.ReadImage(str(data_path(f"lidc_idri_0314/reader{i}.nii.gz"))) for i in (1, 3)]
    f = sitk.HausdorffDistanceImageFilter()
    f.Execute(imgs[0], imgs[1])
    a, b = (sitk.GetArrayFromImage(i).astype(bool) for i in imgs)
    spacing = tuple(reversed(imgs[0].GetSpacing()))
    got = surface_metrics(a, b, spacing_mm=spacing)
    assert got["hd_mm"] == pytest.approx(f.GetHausdorffDistance(), abs=1e-6)
    ov = sitk.LabelOverlapMeasuresImageFilter()
    ov.Execute(imgs[0], imgs[1])
    assert dice(a, b) == pytest.approx(ov.GetDiceCoefficient(), abs=1e-12)
    assert iou(a, b) == pytest.approx(ov.GetJaccardCoefficient(), abs=1e-12)


def test_concentric_spheres_have_the_expected_distances():
    sp = (1.0, 1.0, 1.0)
    shape = (40, 40, 40)
    a = ball(shape, (20, 20, 20), 10, sp)
    b = ball(shape, (20, 20, 20), 13, sp)
    m = surface_metrics(a, b, spacing_mm=sp, tolerance_mm=1.0)
    assert m["msd_mm"] == pytest.approx(3.0, abs=0.5)
    assert m["hd95_mm"] == pytest.approx(3.0, abs=0.8)
    assert m["surface_dice"] < 0.1
    assert surface_metrics(a, b, spacing_mm=sp, tolerance_mm=4.0)["surface_dice"] == 1.0


def test_anisotropic_shift_is_in_mm():
    a = np.zeros((6, 10, 10), bool)
    a[2:4, 3:7, 3:7] = True
    b = np.roll(a, 1, axis=0)
    m = surface_metrics(a, b, spacing_mm=(3.0, 0.5, 0.5))
    assert m["hd_mm"] == pytest.approx(3.0)


def test_surface_empty_policies():
    a = np.zeros((3, 5, 5), bool)
    b = a.copy()
    b[1, 2, 2] = True
    both = surface_metrics(a, a, spacing_mm=(1, 1, 1))
    assert both["surface_dice"] == 1.0 and both["hd95_mm"] == 0.0
    one = surface_metrics(a, b, spacing_mm=(1, 1, 1))
    assert one["surface_dice"] == 0.0 and np.isnan(one["hd95_mm"])
    with pytest.raises(InputError, match="spacing_mm"):
        surface_metrics(b, b, spacing_mm=(1, 0, 1))


def test_fleiss_kappa_published_example():
    """Fleiss (1971) as reproduced on Wikipedia: 10 subjects, 14 raters, 5 categories, kappa 0.210."""
    table = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                      [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    ratings = np.array([np.repeat(np.arange(5), row) for row in table])  # (10 subjects, 14 raters)
    maps = [ratings[:, r].reshape(1, 1, 10).astype(np.uint8) for r in range(14)]
    assert fleiss_kappa(maps) == pytest.approx(0.20993, abs=5e-5)


def test_cohen_kappa_published_example():
    """Wikipedia's example: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no gives kappa 0.4."""
    a = np.array([1] * 25 + [0] * 25, np.uint8)
    b = np.array([1] * 20 + [0] * 5 + [1] * 10 + [0] * 15, np.uint8)
    assert cohen_kappa(a.reshape(1, 5, 10), b.reshape(1, 5, 10)) == pytest.approx(0.4)
    assert cohen_kappa(a.reshape(1, 5, 10), a.reshape(1, 5, 10)) == pytest.approx(1.0)


def test_disagreement_map_matches_direct_count():
    rng = np.random.default_rng(0)
    maps = [rng.integers(0, 3, (4, 6, 7)).astype(np.uint8) for _ in range(5)]
    got = disagreement_map(maps)
    stack = np.stack(maps)
    counts = np.stack([(stack == v).sum(axis=0) for v in range(3)])
    np.testing.assert_array_equal(got, 5 - counts.max(axis=0))


def test_agreement_tables_are_consistent_with_the_pair_functions():
    rng = np.random.default_rng(3)
    base = ndi.gaussian_filter(rng.standard_normal((10, 24, 24)), 2)
    ann = {f"r{k}": {"a": base + 0.1 * k > 0, "b": base > 0.1 * k} for k in range(4)}
    del ann["r3"]["b"]  # one annotator skipped a structure
    cons = {"a": base > 0, "b": base > 0.05}
    t = agreement_tables(ann, spacing_mm=(2.0, 1.0, 1.0), consensus=cons)
    for method in ("slices", "edt"):
        other = agreement_tables(ann, spacing_mm=(2.0, 1.0, 1.0), consensus=cons, distance_method=method)
        for key in ("pairwise", "per_annotator"):
            num = t[key].select_dtypes("number").columns
            np.testing.assert_allclose(other[key][num].to_numpy(float), t[key][num].to_numpy(float), atol=1e-4)
    pw, per = t["pairwise"], t["per_annotator"]
    assert len(pw) == 6 + 3 and len(per) == 4 + 3
    for (x, y) in combinations(["r0", "r1", "r2"], 2):
        row = pw[(pw.structure == "b") & (pw.annotator_a == x) & (pw.annotator_b == y)].iloc[0]
        assert row["dice"] == pytest.approx(dice(ann[x]["b"], ann[y]["b"]))
        assert row["cohen_kappa"] == pytest.approx(cohen_kappa(ann[x]["b"], ann[y]["b"]))
        ref = surface_metrics(ann[x]["b"], ann[y]["b"], spacing_mm=(2.0, 1.0, 1.0))
        assert row["hd95_mm"] == pytest.approx(ref["hd95_mm"]) and row["msd_mm"] == pytest.approx(ref["msd_mm"])
    r = per[(per.structure == "a") & (per.annotator == "r2")].iloc[0]
    assert r["dice_vs_consensus"] == pytest.approx(dice(ann["r2"]["a"], cons["a"]))
    assert r["volume_ml"] == pytest.approx(ann["r2"]["a"].sum() * 2.0 / 1000)
