"""PET tab logic under slicer-core: SUV volume node from DICOM, statistics table from a CT-grid
segmentation node, CSV export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import data_path

pytest.importorskip("slicer")

from medlabel.errors import InputError, OutputExistsError  # noqa: E402
from medlabel.image import Image  # noqa: E402
from medlabel.labels import Geometry, LabelSet  # noqa: E402
from medlabel.pet.stats import pet_statistics_table  # noqa: E402
from medlabel.slicer_bridge import (  # noqa: E402
    headless_scene,
    image_to_volume_node,
    labelset_to_segmentation_node,
    table_node_to_dataframe,
    volume_node_to_image,
)
from SlicerMedLabelLib.pet_logic import PetLogic  # noqa: E402


def test_load_suv_volume_from_dicom():
    headless_scene()
    steps = []
    logic = PetLogic(progress=lambda f, t: steps.append(f))
    node = logic.loadSuvVolume(data_path("tcia_sts/STS_001/PET/dicom/image"), suvType="lbm")
    img = volume_node_to_image(node)
    from medlabel.pet.series import read_suv

    ref, conv = read_suv(data_path("tcia_sts/STS_001/PET/dicom/image"), suv_type="lbm")
    assert img.same_geometry(ref)
    np.testing.assert_allclose(img.array, ref.array, rtol=1e-6)
    info = logic.suvInfo(node)
    assert info["suv_type"] == "lbm" and info["lbm_formula"] == "janmahasatian"
    assert info["lbm_kg"] == pytest.approx(conv.lbm_kg)
    assert steps[-1] == 1.0 and "SUVlbm" in node.GetName()
    # statistics on it name the SUV type and the LBM formula
    labels = LabelSet(ref)
    labels.add_mask("hot", ref.array >= 0.5 * ref.array.max())
    seg = labelset_to_segmentation_node(labels, name="hot")
    df = table_node_to_dataframe(logic.computeStatistics(node, seg))
    assert df.suv_type.iloc[0] == "lbm" and df.lbm_formula.iloc[0] == "janmahasatian"
    assert float(df.suv_max.iloc[0]) == pytest.approx(float(ref.array.max()), rel=1e-6)


def test_statistics_from_ct_grid_segmentation(tmp_path):
    headless_scene()
    pet_geo = Geometry((20, 24, 24), (3.0, 4.0, 4.0), (-48.0, -48.0, -30.0))
    ct_geo = Geometry((50, 80, 80), (1.2, 1.0, 1.0), (-40.0, -40.0, -25.0))
    pet = pet_geo.empty_image(np.float32)
    centre = np.array([0.0, 0.0, 0.0])

    def ball(g, r):
        img = g.empty_image()
        pts = img.index_to_lps(np.indices(g.shape).reshape(3, -1).T)
        return (np.linalg.norm(pts - centre, axis=1) <= r).reshape(g.shape)

    suv = Image(np.where(ball(pet_geo, 10), 6.0, 1.0).astype(np.float32), pet.spacing_mm, pet.origin_lps)
    labels = LabelSet(ct_geo)
    labels.add_mask("lesion", ball(ct_geo, 10), terminology="lesion")
    vol = image_to_volume_node(suv, name="PET SUV")
    seg = labelset_to_segmentation_node(labels, name="CT lesion")
    logic = PetLogic()
    table = logic.computeStatistics(vol, seg, resample="fraction", threshold="relative")
    got = table_node_to_dataframe(table)
    expected = pet_statistics_table(suv, labels, resample="fraction", threshold="relative")
    assert got.segment.tolist() == ["lesion"]
    for col in ("suv_max", "suv_mean", "suv_peak", "mtv_ml", "tlg", "volume_ml"):
        assert float(got[col].iloc[0]) == pytest.approx(float(expected[col].iloc[0]), rel=1e-5)
    assert float(got.suv_max.iloc[0]) == 6.0
    # a scale factor multiplies SUVs and TLG, not volumes
    t2 = logic.computeStatistics(vol, seg, resample="fraction", suvScale=2.0)
    d2 = table_node_to_dataframe(t2)
    assert float(d2.suv_max.iloc[0]) == 12.0
    out = logic.exportTable(table, tmp_path / "pet.csv")
    assert pd.read_csv(out).segment.tolist() == ["lesion"]
    with pytest.raises(OutputExistsError):
        logic.exportTable(table, tmp_path / "pet.csv")
    with pytest.raises(InputError, match="PET"):
        logic.computeStatistics(None, seg)
