"""Export tab logic (SlicerMedLabelLib/export_logic.py) under slicer-core: scene nodes → data set."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import bridge_fixtures
from conftest import data_path
from medlabel.dataset import ExportCase, export_dataset
from medlabel.dicom_seg import read_dicom_seg
from medlabel.errors import InputError
from medlabel.io import read_image, read_segmentation
from medlabel.labels import TAG_ANNOTATOR
from medlabel.slicer_bridge import (
    image_to_volume_node,
    labelset_to_segmentation_node,
    table_node_to_dataframe,
)
from SlicerMedLabelLib.export_logic import ExportLogic, SceneCase
from SlicerMedLabelLib.main_logic import SlicerMedLabelLogic

mrml_scene = bridge_fixtures.mrml_scene


def test_dicom_volume_from_scene_gives_coco_and_seg(mrml_scene, tmp_path):
    main = SlicerMedLabelLogic()
    volume = main.loadVolume(data_path("dcmqi/ct-3slice"))
    seg = main.loadSegmentation(data_path("dcmqi/liver_seg.nrrd"), referenceVolume=volume)
    steps = []
    logic = ExportLogic(progress=lambda f, t: steps.append(f))
    result, table = logic.exportCases([SceneCase(volume, [seg])], tmp_path / "ds", deidentify=True, salt="k")
    assert steps[0] == 0.0 and steps[-1] == 1.0 and steps == sorted(steps)
    assert result.qa_passed and result.n_images == 3
    # the QA table node holds the QA rows
    qa = table_node_to_dataframe(table)
    assert len(qa) == len(result.qa) and set(qa["status"]) == {"ok"}
    # DICOM outputs were written because the node's source folder was recognised
    assert len(result.files["dicom"]) == 3 and len(result.files["masks"]) == 1
    deid = read_image(tmp_path / "ds" / "dicom" / result.files["masks"][0].split("/")[1])
    mask = read_dicom_seg(tmp_path / "ds" / result.files["masks"][0], reference=deid).segments[0].mask
    np.testing.assert_array_equal(mask, read_segmentation(data_path("dcmqi/liver_seg.nrrd")).segments[0].mask)
    # the same annotations as an export straight from the files
    direct = export_dataset([ExportCase(data_path("dcmqi/ct-3slice"), [data_path("dcmqi/liver_seg.nrrd")])],
                            tmp_path / "direct", deidentify=True, salt="k", dicom_masks=False)
    a = json.loads((tmp_path / "ds" / "dataset.json").read_text())["annotations"]
    b = json.loads((tmp_path / "direct" / "dataset.json").read_text())["annotations"]
    assert [x["segmentation"] for x in a] == [x["segmentation"] for x in b]
    assert [x["bbox"] for x in a] == [x["bbox"] for x in b] and direct.n_annotations == 3
    assert "slices" in logic.summary(result) and "0 failures" in logic.summary(result)


def test_phantom_nodes_several_annotators(mrml_scene, tmp_path):
    from medlabel.phantom import make_l3_phantom

    cases = []
    for i in range(4):
        image, truth = make_l3_phantom((1, 128, 128), (3.0, 3.2, 3.2), seed=i)
        vol = image_to_volume_node(image, name=f"phantom {i}")
        segs = []
        for annot in ("A", "B"):
            ls = truth.copy()
            ls.set_tag(TAG_ANNOTATOR, annot)
            segs.append(labelset_to_segmentation_node(ls, reference_volume=vol, name=f"seg {i} {annot}"))
        cases.append(SceneCase(vol, segs, patientId=f"P{i}"))
    result, _ = ExportLogic().exportCases(cases, tmp_path / "ph", split="2:1:1", seed=1,
                                          supercategories={"vertebra": "bone", "tumour": "malignant"})
    assert result.qa_passed and sorted(result.splits) == ["P0", "P1", "P2", "P3"]
    assert sorted(result.splits.values()) == ["test", "train", "train", "val"]
    data = json.loads((tmp_path / "ph" / "dataset.json").read_text())
    assert {a["annotator"] for a in data["annotations"]} == {"A", "B"}
    assert len(data["annotations"]) == 4 * 2 * len(data["categories"])
    assert {c["name"]: c["supercategory"] for c in data["categories"]}["vertebra"] == "bone"
    assert result.files["masks"] == [] and len(result.notes) == 5
    assert "tumour" in result.notes[-1]  # a group for a category nobody drew is reported


def test_edited_volume_is_exported_without_dicom_outputs(mrml_scene, tmp_path):
    import slicer

    main = SlicerMedLabelLogic()
    volume = main.loadVolume(data_path("dcmqi/ct-3slice"))
    arr = slicer.util.arrayFromVolume(volume)
    arr[0, 0, 0] += 1000
    slicer.util.arrayFromVolumeModified(volume)
    seg = main.loadSegmentation(data_path("dcmqi/liver_seg.nrrd"), referenceVolume=volume)
    result, _ = ExportLogic().exportCases([SceneCase(volume, [seg])], tmp_path / "ed")
    assert result.files["masks"] == [] and any("not a DICOM series" in n for n in result.notes)


def test_manifest_and_errors(mrml_scene, tmp_path):
    manifest = tmp_path / "m.csv"
    pd.DataFrame({"image": [str(data_path("dcmqi/ct-3slice"))],
                  "segmentation": [str(data_path("dcmqi/liver_seg.nrrd"))], "names": ["1=liver"]}
                 ).to_csv(manifest, index=False)
    logic = ExportLogic()
    result, table = logic.exportManifest(manifest, tmp_path / "man", dicomMasks=False)
    assert result.categories == ["liver"] and result.qa_passed and table.GetNumberOfRows() == len(result.qa)
    with pytest.raises(InputError, match="at least one case"):
        logic.exportCases([], tmp_path / "x")
    with pytest.raises(InputError, match="output folder"):
        logic.exportManifest(manifest, "")
    volume = SlicerMedLabelLogic().loadVolume(data_path("dcmqi/ct-3slice"))
    with pytest.raises(InputError, match="segmentation"):
        logic.exportCases([SceneCase(volume, [])], tmp_path / "y")


def test_missing_package_is_a_message_not_a_crash(mrml_scene, tmp_path, monkeypatch):
    import SlicerMedLabelLib.dependencies as deps
    from medlabel.errors import MissingDependencyError

    monkeypatch.setattr(deps, "missing_packages", lambda modules: ["skimage"])
    volume = SlicerMedLabelLogic().loadVolume(data_path("dcmqi/ct-3slice"))
    seg = SlicerMedLabelLogic().loadSegmentation(data_path("dcmqi/liver_seg.nrrd"), referenceVolume=volume)
    with pytest.raises(MissingDependencyError, match="scikit-image"):
        ExportLogic().exportCases([SceneCase(volume, [seg])], tmp_path / "ds")
    assert not (tmp_path / "ds").exists()
