"""Main module logic (SlicerMedLabelLib/main_logic.py) under slicer-core: load, save, export, phantom."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk

import bridge_fixtures
from conftest import data_path
from medlabel.errors import GeometryError, InputError, OutputExistsError, ReadError
from medlabel.io import read_image, read_seg_nrrd
from medlabel.phantom import make_l3_phantom
from medlabel.slicer_bridge import segmentation_node_to_labelset, volume_node_to_image
from SlicerMedLabelLib.main_logic import SlicerMedLabelLogic

mrml_scene = bridge_fixtures.mrml_scene


class Recorder:
    def __init__(self):
        self.calls: list[tuple[float, str]] = []

    def __call__(self, fraction, text):
        self.calls.append((fraction, text))

    def check(self):
        fractions = [f for f, _ in self.calls]
        assert fractions, "progress was never reported"
        assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
        assert all(isinstance(t, str) and t for _, t in self.calls)


def test_load_nifti_volume_equals_engine_reader(mrml_scene):
    path = data_path("totalsegmentator/example_ct_sm.nii.gz")
    progress = Recorder()
    node = SlicerMedLabelLogic(progress).loadVolume(path)
    progress.check()
    assert node.GetScene() is mrml_scene and node.GetName() == "example_ct_sm"
    image = volume_node_to_image(node)
    peer = sitk.ReadImage(str(path))  # independent reader
    assert np.array_equal(image.array, sitk.GetArrayFromImage(peer))
    assert np.allclose(image.spacing_mm, peer.GetSpacing()[::-1])
    assert np.allclose(image.origin_lps, peer.GetOrigin())


def test_load_dicom_series_keeps_tags_as_attributes(mrml_scene):
    folder = data_path("tcia_sts/STS_001/CT/dicom/image")
    logic = SlicerMedLabelLogic()
    node = logic.loadVolume(folder, name="sts ct")
    assert node.GetName() == "sts ct"
    image = logic.volumeToImage(node)
    assert image.shape == (59, 202, 198)
    assert -1100 <= image.array.min() and image.array.max() <= 1500  # HU after rescale
    first = pydicom.dcmread(next(p for p in sorted(folder.iterdir()) if p.is_file()), stop_before_pixels=True)
    meta = logic.volumeMetadata(node)
    assert meta["Modality"] == str(first.Modality) == image.meta["Modality"]
    assert meta["SeriesInstanceUID"] == str(first.SeriesInstanceUID)
    assert meta["PatientID"] == str(first.PatientID)


def test_load_segmentation_on_reference_volume(mrml_scene):
    logic = SlicerMedLabelLogic()
    ct = logic.loadVolume(data_path("dcmqi/ct-3slice"))
    seg_path = data_path("dcmqi/liver_seg.nrrd")
    node = logic.loadSegmentation(seg_path, referenceVolume=ct)
    ls = segmentation_node_to_labelset(node, reference_volume=ct)
    truth = sitk.GetArrayFromImage(sitk.ReadImage(str(seg_path)))  # independent reader
    assert len(ls) == len(np.unique(truth[truth > 0]))
    assert int(sum(s.voxel_count for s in ls)) == int(np.count_nonzero(truth))


def test_load_segmentation_with_other_grid_fails_clearly(mrml_scene):
    logic = SlicerMedLabelLogic()
    ct = logic.loadVolume(data_path("totalsegmentator/example_ct_sm.nii.gz"))
    with pytest.raises(GeometryError, match="liver_seg.nrrd"):
        logic.loadSegmentation(data_path("dcmqi/liver_seg.nrrd"), referenceVolume=ct)


def test_phantom_save_segmentation_roundtrip_and_no_overwrite(mrml_scene, tmp_path):
    progress = Recorder()
    logic = SlicerMedLabelLogic(progress)
    volume, seg = logic.addPhantom(shape=(2, 256, 256), spacingMm=(3.0, 1.6, 1.6), seed=3)
    image, truth = make_l3_phantom((2, 256, 256), (3.0, 1.6, 1.6), seed=3)  # the same phantom, directly
    assert np.array_equal(volume_node_to_image(volume).array, image.array)
    assert logic.volumeMetadata(volume)["PatientSex"] == image.meta["PatientSex"]
    out = tmp_path / "truth.seg.nrrd"
    progress.calls.clear()
    assert logic.saveSegmentation(seg, out) == out
    progress.check()
    back = read_seg_nrrd(out)
    assert back.names == truth.names
    for s in truth:
        assert np.array_equal(back[s.name].mask, s.mask), s.name
        assert back[s.name].terminology == s.terminology and back[s.name].tags == s.tags
    before = out.read_bytes()
    with pytest.raises(OutputExistsError, match="force"):
        logic.saveSegmentation(seg, out)
    assert out.read_bytes() == before
    logic.saveSegmentation(seg, out, force=True)
    assert read_seg_nrrd(out).names == truth.names


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_table(mrml_scene, tmp_path, suffix):
    logic = SlicerMedLabelLogic()
    df = pd.DataFrame({"segment": ["muscle", "sat"], "area_cm2": [150.5, 210.25], "voxels": [10, 20]})
    node = logic.showTable(df, name="metrics", units={"area_cm2": "cm2"})
    assert node.GetColumnUnitLabel("area_cm2") == "cm2"
    out = logic.exportTable(node, tmp_path / f"metrics{suffix}")
    back = pd.read_csv(out) if suffix == ".csv" else pd.read_excel(out)
    pd.testing.assert_frame_equal(back, df)
    with pytest.raises(OutputExistsError):
        logic.exportTable(node, out)
    with pytest.raises(InputError, match=r"\.csv or \.xlsx"):
        logic.exportTable(node, tmp_path / "metrics.txt")


def test_logic_errors_name_the_missing_input(mrml_scene, tmp_path):
    logic = SlicerMedLabelLogic()
    with pytest.raises(InputError, match="select a table"):
        logic.exportTable(None, tmp_path / "x.csv")
    with pytest.raises(InputError, match="select a segmentation"):
        logic.segmentationToLabelSet(None)
    with pytest.raises(InputError, match="select a volume"):
        logic.volumeToImage(None)
    with pytest.raises(ReadError, match="does not exist"):
        logic.loadVolume(tmp_path / "missing.nii.gz")


def test_loaded_volume_matches_engine_image(mrml_scene):
    path = data_path("lidc_idri_0314/image")
    node = SlicerMedLabelLogic().loadVolume(path)
    image = read_image(path)
    back = volume_node_to_image(node)
    assert np.array_equal(back.array, image.array) and back.same_geometry(image)


# -- tab population (Qt replaced by small fakes; the real widgets cannot run in CI) ----------------------
class FakePage:
    def __init__(self, layout=None):
        self._layout = layout

    def layout(self):
        return self._layout


class FakeLayout:
    def __init__(self, page):
        page._layout = self
        self.widgets = []

    def addWidget(self, w):
        self.widgets.append(w)


class OwnLayoutTab:  # creates its own layout, like PetTab
    def __init__(self, page):
        self.layout = FakeLayout(page)
        self.layout.addWidget("own")


class PageLayoutTab:  # expects the page's layout, like ReviewTab
    def __init__(self, page):
        page.layout().addWidget("uses page layout")
        self.page = page


class BrokenTab:
    def __init__(self, page):
        raise RuntimeError("widget exploded")


def _importer(modules):
    def load(name):
        if name not in modules:
            err = ModuleNotFoundError(f"No module named '{name}'")
            err.name = name
            raise err
        module = modules[name]
        if isinstance(module, BaseException):
            raise module
        return module

    return load


def _module(**classes):
    import types

    return types.SimpleNamespace(**classes)


def test_build_tab_handles_both_layout_conventions_and_failures():
    from SlicerMedLabelLib.main_logic import build_tab

    modules = {
        "SlicerMedLabelLib.PetTab": _module(PetTab=OwnLayoutTab),
        "SlicerMedLabelLib.ReviewTab": _module(ReviewTab=PageLayoutTab),
        "SlicerMedLabelLib.ModelsTab": _module(ModelsTab=BrokenTab),
        "SlicerMedLabelLib.ExportTab": ModuleNotFoundError("No module named 'openpyxl'", name="openpyxl"),
        "SlicerMedLabelLib.WrongTab": _module(Other=OwnLayoutTab),
    }
    load = _importer(modules)
    page = FakePage()
    tab, msg = build_tab(page, "PET", ("PETTab", "PetTab"), make_layout=FakeLayout, importer=load)
    assert msg is None and isinstance(tab, OwnLayoutTab) and page.layout().widgets == ["own"]
    page = FakePage()
    tab, msg = build_tab(page, "Review", ("ReviewTab",), make_layout=FakeLayout, importer=load)
    assert msg is None and isinstance(tab, PageLayoutTab) and page.layout().widgets == ["uses page layout"]
    tab, msg = build_tab(FakePage(), "Models", ("ModelsTab",), make_layout=FakeLayout, importer=load)
    assert tab is None and msg == "The Models tab could not be built: widget exploded"
    tab, msg = build_tab(FakePage(), "Export", ("ExportTab",), make_layout=FakeLayout, importer=load)
    assert tab is None and "needs the Python package 'openpyxl'" in msg
    tab, msg = build_tab(FakePage(), "Body composition", ("BodyCompositionTab",), make_layout=FakeLayout,
                         importer=load)
    assert tab is None and msg == "The Body composition tab is not available in this version."
    tab, msg = build_tab(FakePage(), "Wrong", ("WrongTab",), make_layout=FakeLayout, importer=load)
    assert tab is None and "defines no class WrongTab" in msg
