"""Per-segment PET statistics: phantoms with exact answers, a brute-force SUVpeak, and the real
QIN-HEADNECK lesions (SEG) and STS GTV (NIfTI mask) against independent numpy computations."""

from __future__ import annotations

import math

import numpy as np
import pydicom
import pytest

from conftest import data_path
from medlabel.dicom_seg import read_dicom_seg
from medlabel.errors import GeometryError, InputError
from medlabel.image import Image
from medlabel.labels import LabelSet
from medlabel.pet.series import read_pet_series
from medlabel.pet.stats import (
    COLUMNS,
    pet_statistics,
    pet_statistics_table,
    segment_pet_stats,
    sphere_kernel,
)

R_1ML = (3000.0 / (4.0 * math.pi)) ** (1 / 3)  # 6.2035 mm


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.0, 0.8, 0.8), (3.27, 4.6875, 4.6875),
                                     (2.025, 3.394, 3.394)])
def test_sphere_kernel_holds_one_ml(spacing):
    k = sphere_kernel(spacing)
    vol_ml = k.sum() * np.prod(spacing) / 1000.0
    assert vol_ml == pytest.approx(1.0, rel=0.03)
    assert k.max() == 1.0 and k.min() >= 0.0
    assert all(s % 2 == 1 for s in k.shape)
    np.testing.assert_allclose(k, k[::-1, ::-1, ::-1])  # symmetric


def _ball(shape, centre, radius_vox):
    zz, yy, xx = np.indices(shape)
    return ((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2) <= radius_vox**2


def test_uniform_hot_sphere_phantom():
    shape, sp = (40, 40, 40), (2.0, 2.0, 2.0)
    ball = _ball(shape, (20, 20, 20), 8)
    suv = np.where(ball, 10.0, 1.0)
    r = segment_pet_stats(suv, ball, spacing_mm=sp)
    n = int(ball.sum())
    assert r["voxel_count"] == n
    assert r["volume_ml"] == pytest.approx(n * 8 / 1000.0)
    assert r["suv_max"] == 10.0 and r["suv_mean"] == pytest.approx(10.0) and r["suv_std"] == pytest.approx(0.0)
    assert r["suv_peak"] == pytest.approx(10.0)  # a 1 ml sphere fits inside the 16 mm radius ball
    assert r["mtv_ml"] == pytest.approx(r["volume_ml"]) and r["tlg"] == pytest.approx(10.0 * r["volume_ml"])
    # the input is not modified
    assert suv[20, 20, 20] == 10.0 and ball.dtype == bool


def test_thresholds_relative_and_absolute():
    shape, sp = (30, 30, 30), (2.0, 2.0, 2.0)
    core = _ball(shape, (15, 15, 15), 4)
    rim = _ball(shape, (15, 15, 15), 8) & ~core
    box = np.zeros(shape, bool)
    box[3:27, 3:27, 3:27] = True  # VOI: a box around the lesion
    suv = np.full(shape, 1.0)
    suv[rim] = 3.0
    suv[core] = 10.0
    rel = segment_pet_stats(suv, box, spacing_mm=sp, threshold="relative")  # 41% of 10 = 4.1
    assert rel["threshold_suv"] == pytest.approx(4.1)
    assert rel["mtv_ml"] == pytest.approx(core.sum() * 8e-3)
    assert rel["tlg"] == pytest.approx(10.0 * core.sum() * 8e-3)
    ab = segment_pet_stats(suv, box, spacing_mm=sp, threshold="absolute")  # SUV >= 2.5
    assert ab["mtv_ml"] == pytest.approx((core | rim).sum() * 8e-3)
    exp_mean = (10.0 * core.sum() + 3.0 * rim.sum()) / (core | rim).sum()
    assert ab["tlg"] == pytest.approx(exp_mean * (core | rim).sum() * 8e-3)
    # SUVmax/mean/voxels refer to the whole VOI
    assert ab["voxel_count"] == box.sum() and ab["suv_max"] == 10.0
    custom = segment_pet_stats(suv, box, spacing_mm=sp, threshold="relative", threshold_value=0.2)  # >= 2
    assert custom["mtv_ml"] == pytest.approx(ab["mtv_ml"])
    with pytest.raises(InputError, match="fraction of SUVmax"):
        segment_pet_stats(suv, box, spacing_mm=sp, threshold="relative", threshold_value=41)
    with pytest.raises(InputError, match="none, relative or absolute"):
        segment_pet_stats(suv, box, spacing_mm=sp, threshold="otsu")


def _brute_force_peak(suv, mask, spacing, radius):
    """Mean over voxels whose *centre* lies in the sphere, best over mask voxels (plain loops)."""
    best = -np.inf
    sz, sy, sx = spacing
    hz, hy, hx = (int(math.ceil(radius / s)) for s in spacing)
    for k, j, i in np.argwhere(mask):
        tot, cnt = 0.0, 0
        for dk in range(-hz, hz + 1):
            for dj in range(-hy, hy + 1):
                for di in range(-hx, hx + 1):
                    if (dk * sz) ** 2 + (dj * sy) ** 2 + (di * sx) ** 2 > radius**2:
                        continue
                    kk, jj, ii = k + dk, j + dj, i + di
                    if 0 <= kk < suv.shape[0] and 0 <= jj < suv.shape[1] and 0 <= ii < suv.shape[2]:
                        tot += suv[kk, jj, ii]
                        cnt += 1
        best = max(best, tot / cnt)
    return best


def test_suvpeak_matches_brute_force_on_random_data():
    rng = np.random.default_rng(7)
    shape, sp = (12, 14, 13), (2.0, 2.0, 2.0)
    suv = rng.gamma(2.0, 1.5, size=shape)
    mask = np.zeros(shape, bool)
    mask[0:5, 3:9, 8:13] = True  # touches the image border: border renormalisation matters
    # with a kernel of whole voxels (subsamples=1: voxel in when its centre is in the sphere)
    k = sphere_kernel(sp, subsamples=1)
    r = segment_pet_stats(suv, mask, spacing_mm=sp, kernel=k)
    assert r["suv_peak"] == pytest.approx(_brute_force_peak(suv, mask, sp, R_1ML), rel=1e-12)
    assert r["suv_max"] == pytest.approx(suv[mask].max())
    assert r["suv_mean"] == pytest.approx(suv[mask].mean())
    assert r["suv_std"] == pytest.approx(suv[mask].std())


def test_fractions_weight_volume_and_mean():
    suv = np.zeros((4, 4, 4))
    suv[1, 1, 1], suv[1, 1, 2] = 4.0, 2.0
    frac = np.zeros((4, 4, 4))
    frac[1, 1, 1], frac[1, 1, 2], frac[2, 2, 2] = 1.0, 0.5, 0.2
    r = segment_pet_stats(suv, frac, spacing_mm=(10.0, 10.0, 10.0))  # 1 ml voxels
    assert r["volume_ml"] == pytest.approx(1.7)
    assert r["suv_mean"] == pytest.approx((4.0 + 0.5 * 2.0) / 1.7)
    assert r["voxel_count"] == 2  # voxels with fraction >= 0.5
    assert r["suv_max"] == 4.0


def test_empty_segment_gives_nan_and_zero():
    r = segment_pet_stats(np.ones((3, 3, 3)), np.zeros((3, 3, 3), bool), spacing_mm=(1, 1, 1))
    assert r["voxel_count"] == 0 and r["mtv_ml"] == 0.0 and r["tlg"] == 0.0
    assert math.isnan(r["suv_max"]) and math.isnan(r["suv_peak"])


def test_shape_mismatch_is_a_geometry_error():
    with pytest.raises(GeometryError, match="resample"):
        segment_pet_stats(np.ones((3, 3, 3)), np.ones((3, 3, 4), bool), spacing_mm=(1, 1, 1))


def test_table_columns_and_rows():
    suv = np.ones((5, 5, 5))
    a = np.zeros((5, 5, 5), bool)
    a[1:3, 1:3, 1:3] = True
    df = pet_statistics(suv, {"a": a, "b": ~a}, spacing_mm=(1, 1, 1))
    assert list(df.columns) == COLUMNS and list(df.segment) == ["a", "b"]
    assert df.voxel_count.tolist() == [8, 125 - 8]


# -- real data ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def qin_suv():
    series = read_pet_series(data_path("tcia_qin_headneck/image"))
    suv, conv = series.to_suv()
    return suv, conv


def test_qin_lesion_statistics_against_independent_numpy(qin_suv):
    suv, conv = qin_suv
    seg = read_dicom_seg(data_path("tcia_qin_headneck/mask/mask.dcm"), reference=suv)
    df = pet_statistics_table(suv, seg, threshold="relative", suv_units=conv.units)
    assert len(df) == 11 and (df.resampling == "none").all()
    vox_ml = np.prod(suv.spacing_mm) / 1000.0
    for s, row in zip(seg, df.itertuples(), strict=True):
        v = suv.array[s.mask]
        assert row.segment == s.name
        assert row.suv_max == pytest.approx(v.max(), rel=1e-6)
        assert row.suv_mean == pytest.approx(v.mean(), rel=1e-6)
        assert row.volume_ml == pytest.approx(s.mask.sum() * vox_ml)
        hot = v >= 0.41 * v.max()
        assert row.mtv_ml == pytest.approx(hot.sum() * vox_ml)
        assert row.tlg == pytest.approx(v[hot].mean() * hot.sum() * vox_ml, rel=1e-6)
        assert np.isfinite(row.suv_peak) and row.suv_peak > 0
    primary = df.iloc[0]
    assert primary.segment == "Neoplasm, Primary" and primary.suv_max > 5  # an FDG-avid primary
    assert primary.suv_mean < primary.suv_peak <= primary.suv_max
    assert (df.suv_units == "g/ml").all()


def test_sts_gtv_from_nifti_mask():
    import SimpleITK as sitk

    series = read_pet_series(data_path("tcia_sts/STS_001/PET/dicom/image"))
    suv, _ = series.to_suv()
    mask_img = sitk.ReadImage(str(data_path("tcia_sts/STS_001/PET/nifti/mask/mask.nii.gz")))
    mask = Image.from_sitk(mask_img)
    labels = LabelSet(mask)
    labels.add_mask("GTV_Mass_PET", mask.array > 0, terminology="lesion")
    df = pet_statistics_table(suv, labels)  # same physical grid, maybe other float rounding
    nii = sitk.GetArrayFromImage(sitk.ReadImage(str(data_path("tcia_sts/STS_001/PET/nifti/image/image.nii.gz"))))
    inside = nii[mask.array > 0]
    row = df.iloc[0]
    assert row.suv_max == pytest.approx(inside.max(), rel=1e-3)
    assert row.suv_mean == pytest.approx(inside.mean(), rel=1e-3)
    assert row.voxel_count == int((mask.array > 0).sum())
    # spot-check one voxel against the raw DICOM (stored value * slope)
    k, j, i = np.argwhere(mask.array > 0)[0]
    f = series.image.meta["files"][k]
    ds = pydicom.dcmread(f)
    assert suv.array[k, j, i] == pytest.approx(ds.pixel_array[j, i] * float(ds.RescaleSlope), rel=1e-5)
