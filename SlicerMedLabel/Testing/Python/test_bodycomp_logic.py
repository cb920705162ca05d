"""Body-composition tab logic under slicer-core: Compute → segmentation + tables, edit → Recompute,
Export, prefilled patient data, slice index from the slice view position."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("slicer")

from medlabel import io  # noqa: E402
from medlabel.bodycomp import run_study  # noqa: E402
from medlabel.errors import InputError, OutputExistsError  # noqa: E402
from medlabel.phantom import make_l3_phantom  # noqa: E402
from medlabel.slicer_bridge import (  # noqa: E402
    headless_scene,
    image_to_volume_node,
    labelset_to_segmentation_node,
    segmentation_node_to_labelset,
    table_node_to_dataframe,
)
from SlicerMedLabelLib.bodycomp_logic import BodyCompositionLogic  # noqa: E402


@pytest.fixture
def ct_node():
    headless_scene()
    image, truth = make_l3_phantom((3, 200, 200), (3.0, 2.0, 2.0), sex="M", height_m=175, weight_kg=80.0)
    node = image_to_volume_node(image, name="phantom")
    for key in ("PatientSex", "PatientSize", "PatientWeight"):
        node.SetAttribute(f"MedLabel.{key}", str(image.meta[key]))
    return node, image, truth


def results(table_node) -> dict:
    df = table_node_to_dataframe(table_node)
    return dict(zip(df["quantity"], df["value"], strict=True))


def test_prefill_and_slice_index(ct_node):
    node, image, _ = ct_node
    logic = BodyCompositionLogic()
    info = logic.prefill(node)
    assert info["sex"] == "M" and info["heightM"] == pytest.approx(1.75) and info["weightKg"] == 80.0
    assert info["sources"]["height"] == "dicom (cm converted to m)"
    ras_of_k2 = image.index_to_lps([[2, 100, 100]])[0] * np.array([-1, -1, 1])
    assert logic.sliceIndexAtRas(node, ras_of_k2) == 2
    with pytest.raises(InputError, match="outside"):
        logic.sliceIndexAtRas(node, (0.0, 0.0, 500.0))


def test_compute_matches_engine_then_edit_and_recompute(ct_node, tmp_path):
    node, image, truth = ct_node
    steps = []
    logic = BodyCompositionLogic(progress=lambda f, t: steps.append(f))
    seg, metrics_node, results_node = logic.compute(node, 1, slabSlices=3)
    assert steps[-1] == 1.0
    engine = run_study(image.with_array(image.array, PatientSex="M", PatientSize="175", PatientWeight="80.0"),
                       slice_index=1, slab_slices=3)
    labels = segmentation_node_to_labelset(seg, reference_volume=node)
    assert np.array_equal(labels["skeletal_muscle"].mask, engine.labels["skeletal_muscle"].mask)
    metrics = table_node_to_dataframe(metrics_node).set_index("tissue")
    assert metrics.loc["skeletal_muscle", "area_cm2"] == pytest.approx(engine.row["muscle_area_cm2"])
    row = results(results_node)
    assert float(row["smi_cm2_m2"]) == pytest.approx(engine.row["smi_cm2_m2"])
    assert row["height_source"] == "dicom (cm converted to m)" and row["slice_indices"] == "0;1;2"

    # the user erases part of the muscle (any Segment Editor effect would do this), then Recompute
    edited = labels.copy()
    m = edited["skeletal_muscle"].mask.copy()
    m[:, :, :100] = False
    edited.add_mask("skeletal_muscle", m, replace_existing=True)
    attr = seg.GetAttribute("MedLabel.BodyComposition")
    labelset_to_segmentation_node(edited, seg, node)
    seg.SetAttribute("MedLabel.BodyComposition", attr)
    metrics_node, results_node = logic.recompute(node, seg, heightM=1.80, metricsTableNode=metrics_node,
                                                 resultsTableNode=results_node)
    area = table_node_to_dataframe(metrics_node).set_index("tissue").loc["skeletal_muscle", "area_cm2"]
    assert area == pytest.approx(m.sum() / 3 * 0.04)
    row = results(results_node)
    assert row["height_source"] == "user" and float(row["height_m"]) == 1.80
    assert "edited in Slicer" in row["method"]

    paths = logic.export(node, seg, tmp_path)
    assert set(paths) == {"csv", "xlsx", "png", "seg"}
    out = pd.read_csv(paths["csv"]).iloc[0]
    assert out["muscle_area_cm2"] == pytest.approx(area)
    assert np.array_equal(io.read_seg_nrrd(paths["seg"])["skeletal_muscle"].mask, m)
    with pytest.raises(OutputExistsError):
        logic.export(node, seg, tmp_path)


def test_recompute_needs_compute_first(ct_node):
    node, image, truth = ct_node
    seg = labelset_to_segmentation_node(truth, None, node)
    with pytest.raises(InputError, match="press Compute first"):
        BodyCompositionLogic().recompute(node, seg)
    with pytest.raises(InputError, match="select the CT volume"):
        BodyCompositionLogic().compute(None, 0)


def test_suggest_and_slice_position_on_real_ct():
    from conftest import data_path

    headless_scene()
    logic = BodyCompositionLogic()
    node = logic.loadStudy(data_path("totalsegmentator/example_ct.nii.gz"))
    vert = logic.loadStudy(data_path("totalsegmentator/example_seg_fast_force_split.nii.gz"))
    s = logic.suggestL3(node, vert)
    assert s.index == 72 and s.method == "auto_l3_labels"
    z = logic.sliceRasZ(node, 72)
    assert logic.sliceIndexAtRas(node, (0.0, 0.0, z)) == 72


def test_reference_choices_without_the_engine():
    from SlicerMedLabelLib.bodycomp_logic import referenceChoices

    names = dict(referenceChoices())
    assert list(names) == ["lee2022"] and "Korean" in names["lee2022"]
