"""medlabel.dataset.export_dataset + QA + the `medlabel export` command, on real data and phantoms.

Truth: the source masks (read independently with medlabel.io), the source HU (windowed by hand),
the DICOM SEGs read back onto the de-identified images, and the patient ids we put in.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image as PILImage

from conftest import data_path
from medlabel import cli
from medlabel.dataset import (
    ExportCase,
    Pseudonymizer,
    check_export,
    export_dataset,
    polygons_to_mask,
    validate_coco,
)
from medlabel.dicom_seg import read_dicom_seg
from medlabel.errors import InputError, OutputExistsError
from medlabel.io import read_image, read_segmentation
from medlabel.labels import TAG_ANNOTATOR, TAG_STATUS, TAG_TOOL, LabelSet
from medlabel.phantom import make_l3_phantom

SALT = "export-test"


@pytest.fixture(scope="module")
def real_export(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "ds"
    cases = [
        ExportCase(data_path("dcmqi/ct-3slice"), [data_path("dcmqi/liver_seg.nrrd")], names={1: "liver"}),
        ExportCase(data_path("lidc_idri_0314/image"),
                   [data_path("lidc_idri_0314/reader1.nii.gz"), data_path("lidc_idri_0314/reader2.nii.gz")],
                   annotators=["reader1", "reader2"], names={1: "nodule"}),
        ExportCase(data_path("tcia_sts/STS_001/CT/nifti/image/image.nii.gz"),
                   [data_path("tcia_sts/STS_001/CT/nifti/mask/mask.nii.gz")], patient_id="STS_001",
                   names={1: "lesion"}),
    ]
    steps = []
    result = export_dataset(cases, out, deidentify=True, salt=SALT, progress=lambda f, t: steps.append(f))
    return out, result, steps


def _sources():
    """pseudonym -> (image path, {annotator: segmentation path}) of the real cases."""
    p = Pseudonymizer(SALT)
    return {
        p.patient_id("99000"): (data_path("dcmqi/ct-3slice"), {None: data_path("dcmqi/liver_seg.nrrd")}),
        p.patient_id("LIDC-IDRI-0314"): (data_path("lidc_idri_0314/image"),
                                         {"reader1": data_path("lidc_idri_0314/reader1.nii.gz"),
                                          "reader2": data_path("lidc_idri_0314/reader2.nii.gz")}),
        p.patient_id("STS_001"): (data_path("tcia_sts/STS_001/CT/nifti/image/image.nii.gz"),
                                  {None: data_path("tcia_sts/STS_001/CT/nifti/mask/mask.nii.gz")}),
    }


def test_json_files_valid_and_qa_clean(real_export):
    out, result, steps = real_export
    assert result.qa_passed, result.qa[result.qa.status != "ok"].to_string()
    assert steps[-1] == 1.0 and steps == sorted(steps)
    data = json.loads((out / "dataset.json").read_text())
    assert validate_coco(data) == []
    assert set(data) >= {"info", "licenses", "images", "annotations", "categories"}
    assert "medlabel" in data["info"]["software"] and data["info"]["date_created"]
    total = 0
    for name in ("train", "val", "test"):
        part = json.loads((out / f"{name}.json").read_text())
        assert validate_coco(part) == [] and part["categories"] == data["categories"]
        total += len(part["images"])
    assert total == len(data["images"]) == result.n_images
    # labelled slices: 3 (liver) + union of the two readers' nodule slices + lesion slices
    nod = read_segmentation(data_path("lidc_idri_0314/reader1.nii.gz")).segments[0].mask.any(axis=(1, 2)) | \
        read_segmentation(data_path("lidc_idri_0314/reader2.nii.gz")).segments[0].mask.any(axis=(1, 2))
    sts = read_segmentation(data_path("tcia_sts/STS_001/CT/nifti/mask/mask.nii.gz")).segments[0].mask
    assert result.n_images == 3 + int(nod.sum()) + int(sts.any(axis=(1, 2)).sum())


def test_categories_carry_terminology(real_export):
    out, result, _ = real_export
    cats = {c["name"]: c for c in json.loads((out / "dataset.json").read_text())["categories"]}
    assert sorted(cats) == ["lesion", "liver", "nodule"] == sorted(result.categories)
    assert cats["nodule"]["snomed_ct"] == "27925004" and cats["nodule"]["code"]["scheme"] == "SCT"
    assert cats["nodule"]["supercategory"] == "Morphologically Altered Structure"
    assert cats["lesion"]["snomed_ct"] == "108369006"
    assert cats["liver"]["code"] is None  # no terminology known for this label-map value


def test_polygons_boxes_areas_match_source_masks(real_export):
    out, _, _ = real_export
    data = json.loads((out / "dataset.json").read_text())
    images = {im["id"]: im for im in data["images"]}
    sources = _sources()
    masks = {}
    for pid, (_img_path, segs) in sources.items():
        for annot, seg_path in segs.items():
            masks[(pid, annot)] = read_segmentation(seg_path).segments[0].mask
    spacing = {pid: read_image(p).spacing_mm for pid, (p, _) in sources.items()}
    mismatched = total = 0
    seen = set()
    for a in data["annotations"]:
        im = images[a["image_id"]]
        truth = masks[(im["patient_id"], a["annotator"])][im["slice_index"]]
        seen.add((im["patient_id"], a["annotator"], im["slice_index"]))
        back = polygons_to_mask(a["segmentation"], (im["height"], im["width"]), a["segmentation_holes"])
        mismatched += int(np.count_nonzero(back != truth))
        total += int(truth.sum())
        assert a["area_px"] == int(truth.sum()) == a["area"]
        rows, cols = np.nonzero(truth)
        assert a["bbox"] == [cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1]
        assert a["bbox_xyxy"] == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
        sp = spacing[im["patient_id"]]
        assert a["area_mm2"] == pytest.approx(truth.sum() * sp[1] * sp[2], abs=1e-6)
        assert a["iscrowd"] == 0
    assert mismatched <= 0.005 * total
    # every non-empty source slice has exactly one annotation
    expected = {(pid, annot, int(k)) for (pid, annot), m in masks.items() for k in np.flatnonzero(m.any(axis=(1, 2)))}
    assert seen == expected and len(data["annotations"]) == len(expected)
    assert {a["annotator"] for a in data["annotations"]} == {None, "reader1", "reader2"}


def test_png_is_the_windowed_slice(real_export):
    out, _, _ = real_export
    data = json.loads((out / "dataset.json").read_text())
    hu = read_image(data_path("dcmqi/ct-3slice")).array
    ims = [im for im in data["images"] if im["patient_id"] == Pseudonymizer(SALT).patient_id("99000")]
    assert [im["slice_index"] for im in ims] == [0, 1, 2]
    for im in ims:
        png = np.asarray(PILImage.open(out / im["file_name"]))
        expected = np.clip(np.rint((hu[im["slice_index"]].astype(float) + 160.0) / 400.0 * 255.0), 0, 255)
        np.testing.assert_array_equal(png, expected.astype(np.uint8))
        assert im["window_hu"] == [-160.0, 240.0] and im["modality"] == "CT"
        assert im["pixel_spacing_mm"] == pytest.approx([0.810547, 0.810547])
        assert im["manufacturer"] == "GE MEDICAL SYSTEMS" and im["manufacturer_model"] == "LightSpeed Ultra"
    z = read_image(data_path("dcmqi/ct-3slice")).slice_z_mm()
    assert [im["z_mm"] for im in ims] == pytest.approx(z.tolist(), abs=1e-3)


def test_dicom_seg_per_category_on_deidentified_series(real_export):
    out, result, _ = real_export
    masks = sorted(result.files["masks"])
    assert len(masks) == 3  # liver; nodule of reader1 and of reader2 (the NIfTI case gets none)
    assert any(n.endswith("nodule_reader1.dcm") for n in masks) and any(n.endswith("nodule_reader2.dcm") for n in masks)
    sources = _sources()
    for rel in masks:
        pid = Path(rel).parent.name.rsplit("_", 1)[0]
        img_path, segs = sources[pid]
        annot = "reader1" if "reader1" in rel else "reader2" if "reader2" in rel else None
        deid_image = read_image(out / "dicom" / Path(rel).parent.name)
        original = read_image(img_path)
        np.testing.assert_array_equal(deid_image.array, original.array)
        assert deid_image.same_geometry(original)
        seg = read_dicom_seg(out / rel, reference=deid_image)
        assert len(seg) == 1
        np.testing.assert_array_equal(seg.segments[0].mask, read_segmentation(segs[annot]).segments[0].mask)
        hdr = pydicom.dcmread(out / rel, stop_before_pixels=True)
        ref_series = hdr.ReferencedSeriesSequence[0].SeriesInstanceUID
        assert ref_series == deid_image.meta["SeriesInstanceUID"] != original.meta["SeriesInstanceUID"]
        assert hdr.PatientID == pid
    assert any("not a DICOM series" in n for n in result.notes)


def test_no_original_identifier_anywhere_in_the_output(real_export):
    out, _, _ = real_export
    secrets = {"99000", "JANCT000", "LIDC-IDRI-0314", "STS_001", "03086212", "2819497684894126"}
    for folder in (data_path("dcmqi/ct-3slice"), data_path("lidc_idri_0314/image")):
        for f in folder.glob("*.dcm"):
            ds = pydicom.dcmread(f, stop_before_pixels=True)
            secrets |= {ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.FrameOfReferenceUID}
    files = [f for f in out.rglob("*") if f.is_file()]
    assert len(files) > 50
    for f in files:
        raw = f.read_bytes()
        leaked = [s for s in secrets if s.encode() in raw]
        assert not leaked, f"{f.relative_to(out)} holds {leaked}"


def test_splits_csv_matches_json(real_export):
    out, result, _ = real_export
    df = pd.read_csv(out / "splits.csv")
    data = json.loads((out / "dataset.json").read_text())
    assert sorted(df.patient_id) == sorted(result.splits) == sorted(_sources())
    for row in df.itertuples():
        assert {im["split"] for im in data["images"] if im["patient_id"] == row.patient_id} == {row.split}
    lidc = df[df.patient_id == Pseudonymizer(SALT).patient_id("LIDC-IDRI-0314")].iloc[0]
    assert lidc.annotators == "reader1;reader2" and lidc.labels == "nodule"
    qa = pd.read_csv(out / "qa.csv")
    assert (qa.status == "ok").all() and len(qa) == len(result.qa)


# ---------------------------------------------------------------------------------------------------
# phantom data sets (fast, in memory)
# ---------------------------------------------------------------------------------------------------
def _phantom_cases(n_patients: int, *, nz: int = 2, annotators_of=lambda i: ["A"]):
    cases = []
    for i in range(n_patients):
        image, truth = make_l3_phantom((nz, 128, 128), (3.0, 3.2, 3.2), seed=i, noise_hu=2)
        sets = []
        for a in annotators_of(i):
            ls = LabelSet(truth.geometry)
            for name in ("skeletal_muscle", "vertebra"):
                s = truth[name].copy()
                s.tags.update({TAG_ANNOTATOR: a, TAG_TOOL: "manual", TAG_STATUS: "accepted"})
                ls.add(s)
            sets.append(ls)
        cases.append(ExportCase(image, sets, patient_id=f"PAT{i:02d}"))
    return cases


def test_phantom_dataset_splits_by_patient_stratified(tmp_path):
    cases = _phantom_cases(10, annotators_of=lambda i: ["A", "B"] if i % 2 else ["A"])
    res = export_dataset(cases, tmp_path / "ds", split="8:1:1", seed=4, stratify="annotators")
    assert res.qa_passed
    data = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    per_patient = {}
    for im in data["images"]:
        per_patient.setdefault(im["patient_id"], set()).add(im["split"])
    assert all(len(s) == 1 for s in per_patient.values())
    counts = pd.Series({p: next(iter(s)) for p, s in per_patient.items()}).value_counts().to_dict()
    assert counts == {"train": 8, "val": 1, "test": 1}
    assert res.n_images == 20  # 2 labelled slices per patient
    # 2 segments x 2 slices per annotation set; 5 patients with one annotator, 5 with two
    assert res.n_annotations == 4 * (5 + 10)
    ann = data["annotations"][0]
    assert (ann["tool"], ann["status"], ann["annotator"]) == ("manual", "accepted", "A")
    assert data["categories"][0]["snomed_ct"] == "127954009"  # skeletal muscle tissue
    assert res.files["masks"] == [] and any("not a DICOM series" in n for n in res.notes)
    assert json.loads((tmp_path / "ds" / "val.json").read_text())["medlabel"]["split"] == "val"
    # same seed -> same splits
    again = export_dataset(cases, tmp_path / "ds2", split="8:1:1", seed=4, stratify="annotators")
    assert again.splits == res.splits


def test_existing_export_needs_force_and_all_slices(tmp_path):
    cases = _phantom_cases(1, nz=3)
    cases[0].segmentations[0]["vertebra"].mask[2] = False
    cases[0].segmentations[0]["skeletal_muscle"].mask[2] = False
    first = export_dataset(cases, tmp_path / "ds")
    assert first.n_images == 2
    with pytest.raises(OutputExistsError, match="force"):
        export_dataset(cases, tmp_path / "ds")
    second = export_dataset(cases, tmp_path / "ds", slices="all", force=True)
    assert second.n_images == 3 and second.qa_passed


def test_qa_finds_broken_exports(tmp_path):
    res = export_dataset(_phantom_cases(3), tmp_path / "ds", split="1:1:1")
    assert res.qa_passed
    out = tmp_path / "ds"
    data = json.loads((out / "dataset.json").read_text())
    (out / data["images"][0]["file_name"]).unlink()
    data["annotations"][1]["area"] = 0
    moved = data["images"][1]
    assert moved["patient_id"] == data["images"][0]["patient_id"]  # both slices of the first patient
    moved["split"] = "test" if moved["split"] != "test" else "val"
    (out / "dataset.json").write_text(json.dumps(data))
    qa = check_export(out)
    failed = set(qa[qa.status == "fail"].check)
    assert {"image_file", "empty_masks", "patient_in_one_split"} <= failed
    assert "split_membership" not in failed  # the split files themselves were not touched


def test_bad_inputs(tmp_path):
    image, truth = make_l3_phantom((1, 128, 128), (3.0, 3.2, 3.2))
    other, _ = make_l3_phantom((1, 110, 128), (3.0, 3.2, 3.2))
    with pytest.raises(InputError, match="grid"):
        export_dataset([ExportCase(other, [truth])], tmp_path / "a")
    with pytest.raises(InputError, match="one annotator per segmentation"):
        export_dataset([ExportCase(image, [truth], annotators=["a", "b"])], tmp_path / "b")
    with pytest.raises(InputError, match="stratify"):
        export_dataset([ExportCase(image, [truth])], tmp_path / "c", stratify="age")
    with pytest.raises(InputError, match="no segmentation"):
        export_dataset([ExportCase(image, [])], tmp_path / "d")
    with pytest.raises(InputError, match="preset"):
        export_dataset([ExportCase(image, [truth], window="lungs")], tmp_path / "e")
    assert not (tmp_path / "a").exists()  # nothing written before the inputs were checked


# ---------------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------------
def test_cli_pairs(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = cli.main(["export", str(data_path("dcmqi/ct-3slice")), str(data_path("dcmqi/liver_seg.nrrd")),
                   "-o", str(out), "--split", "8:1:1", "--seed", "0", "--deidentify", "--salt", "x",
                   "--names", "1=liver", "--window", "liver", "--supercategory", "liver=organ"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "3 slices" in text and "0 failures" in text
    data = json.loads((out / "dataset.json").read_text())
    assert data["images"][0]["window_hu"] == [-20.0, 140.0]
    assert data["categories"][0]["supercategory"] == "organ"
    assert data["images"][0]["patient_id"] == Pseudonymizer("x").patient_id("99000")
    assert len(list((out / "dicom").rglob("*.dcm"))) == 3 and len(list((out / "masks").rglob("*.dcm"))) == 1
    assert cli.main(["export", str(data_path("dcmqi/ct-3slice")), str(data_path("dcmqi/liver_seg.nrrd")),
                     "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err


def test_cli_manifest_groups_annotators(tmp_path, capsys):
    manifest = tmp_path / "cases.csv"
    img = data_path("lidc_idri_0314/image")
    pd.DataFrame({"image": [str(img), str(img)],
                  "segmentation": [str(data_path("lidc_idri_0314/reader3.nii.gz")),
                                   str(data_path("lidc_idri_0314/reader4.nii.gz"))],
                  "annotator": ["r3", "r4"], "names": ["1=nodule", "1=nodule"],
                  "window": ["lung", "lung"]}).to_csv(manifest, index=False)
    out = tmp_path / "m"
    rc = cli.main(["export", str(manifest), "-o", str(out), "--no-dicom-masks"])
    assert rc == 0, capsys.readouterr().out
    data = json.loads((out / "dataset.json").read_text())
    assert {a["annotator"] for a in data["annotations"]} == {"r3", "r4"}
    assert {im["patient_id"] for im in data["images"]} == {"LIDC-IDRI-0314"}
    assert {tuple(im["window_hu"]) for im in data["images"]} == {(-1350.0, 150.0)}  # lung window of the manifest
    assert not (out / "masks").exists()


def test_cli_input_errors(tmp_path, capsys):
    assert cli.main(["export", str(data_path("dcmqi/ct-3slice")), "-o", str(tmp_path / "x")]) == 2
    assert "pairs" in capsys.readouterr().err
    bad = tmp_path / "m.csv"
    bad.write_text("img,seg\na,b\n")
    assert cli.main(["export", str(bad), "-o", str(tmp_path / "y")]) == 2
    assert "lacks column" in capsys.readouterr().err
    assert cli.main(["export", str(data_path("dcmqi/ct-3slice")), str(data_path("dcmqi/liver_seg.nrrd")),
                     "-o", str(tmp_path / "z"), "--names", "liver"]) == 2
    assert "value=name" in capsys.readouterr().err
    assert cli.main(["export", str(data_path("dcmqi/ct-3slice")), str(data_path("dcmqi/liver_seg.nrrd")),
                     "-o", str(tmp_path / "z"), "--supercategory", "liver"]) == 2
    assert "category=group" in capsys.readouterr().err


def test_unnamed_readers_get_separate_masks_and_force_removes_stale_files(tmp_path):
    img = data_path("lidc_idri_0314/image")
    r1, r2 = data_path("lidc_idri_0314/reader1.nii.gz"), data_path("lidc_idri_0314/reader2.nii.gz")
    out = tmp_path / "ds"
    first = export_dataset([ExportCase(img, [r1])], out)
    assert first.files["masks"] == ["masks/LIDC-IDRI-0314_1/Segment_1.dcm"]
    assert any("default names" in n for n in first.notes)
    second = export_dataset([ExportCase(img, [r1, r2], names={1: "nodule"})], out, force=True)
    # no annotator given: the file names tell the two segmentations apart
    assert sorted(second.files["masks"]) == ["masks/LIDC-IDRI-0314_1/nodule_reader1.dcm",
                                             "masks/LIDC-IDRI-0314_1/nodule_reader2.dcm"]
    data = json.loads((out / "dataset.json").read_text())
    assert {a["annotator"] for a in data["annotations"]} == {"reader1", "reader2"}
    assert sorted(p.name for p in (out / "masks").rglob("*.dcm")) == ["nodule_reader1.dcm", "nodule_reader2.dcm"]
    assert second.qa_passed and "warn" not in set(second.qa.status)
    (out / "images" / "stray.png").write_bytes(b"x")
    qa = check_export(out)
    assert qa[qa.check == "unlisted_files"].status.item() == "warn"


def test_rtstruct_source_gives_coco_and_seg(tmp_path):
    image_dir = data_path("tcia_sts/STS_001/CT/dicom/image")
    rs = data_path("tcia_sts/STS_001/CT/dicom/mask/RS.dcm")
    res = export_dataset([ExportCase(image_dir, [rs])], tmp_path / "rs", dicom_masks=True)
    assert res.qa_passed and res.categories == ["GTV_Mass_CT"]
    image = read_image(image_dir)
    truth = read_segmentation(rs, reference=image).segments[0].mask
    assert res.n_images == res.n_annotations == int(truth.any(axis=(1, 2)).sum())
    seg = read_dicom_seg(tmp_path / "rs" / res.files["masks"][0], reference=image)
    np.testing.assert_array_equal(seg.segments[0].mask, truth)
    hdr = pydicom.dcmread(tmp_path / "rs" / res.files["masks"][0], stop_before_pixels=True)
    assert hdr.ReferencedSeriesSequence[0].SeriesInstanceUID == image.meta["SeriesInstanceUID"]


def test_stratify_by_labels(tmp_path):
    cases = _phantom_cases(6, nz=1)
    for c in cases[3:]:  # patients 3..5 have no vertebra label
        c.segmentations[0]["vertebra"].mask[:] = False
    res = export_dataset(cases, tmp_path / "ds", split="2:1:0", seed=7, stratify="labels", dicom_masks=False)
    with_vertebra = [res.splits[f"PAT{i:02d}"] for i in range(3)]
    without = [res.splits[f"PAT{i:02d}"] for i in range(3, 6)]
    assert sorted(with_vertebra) == sorted(without) == ["train", "train", "val"]
    df = pd.read_csv(tmp_path / "ds" / "splits.csv")
    assert set(df[df.labels == "skeletal_muscle"].patient_id) == {f"PAT{i:02d}" for i in range(3, 6)}
    assert not (tmp_path / "ds" / "test.json").exists() or not json.loads(
        (tmp_path / "ds" / "test.json").read_text())["images"]


def test_pet_series_uses_percentile_window_and_gets_a_seg(tmp_path):
    pet_dir = data_path("tcia_sts/STS_001/PET/dicom/image")
    mask = data_path("tcia_sts/STS_001/PET/nifti/mask/mask.nii.gz")
    res = export_dataset([ExportCase(pet_dir, [mask], names={1: "lesion"})], tmp_path / "pet",
                         deidentify=True, salt="p")
    assert res.qa_passed and len(res.files["masks"]) == 1 and len(res.files["dicom"]) == 59
    pet = read_image(pet_dir)
    lo, hi = np.percentile(pet.array, [0.5, 99.5])
    data = json.loads((tmp_path / "pet" / "dataset.json").read_text())
    im = data["images"][0]
    assert im["modality"] == "PT" and im["window_hu"] == pytest.approx([lo, hi], abs=1e-3)
    png = np.asarray(PILImage.open(tmp_path / "pet" / im["file_name"]))
    expected = np.clip(np.rint((pet.array[im["slice_index"]].astype(float) - lo) / (hi - lo) * 255), 0, 255)
    assert np.abs(png.astype(int) - expected).max() <= 1  # window limits are stored rounded to 1e-3
    deid = pydicom.dcmread(next((tmp_path / "pet" / "dicom").rglob("*.dcm")))
    assert deid.Units == "GML" and float(deid.PatientWeight) == 71.0  # SUV-relevant tags kept


def test_large_data_sets_are_read_twice_with_the_same_result(tmp_path, monkeypatch):
    import medlabel.dataset.export as export_module

    cases = _phantom_cases(3)
    kept = export_dataset(cases, tmp_path / "kept", split="1:1:1")
    monkeypatch.setattr(export_module, "CACHE_BYTES", 0)  # nothing kept: every case is loaded again
    reread = export_dataset(cases, tmp_path / "reread", split="1:1:1")
    a = json.loads((tmp_path / "kept" / "dataset.json").read_text())
    b = json.loads((tmp_path / "reread" / "dataset.json").read_text())
    assert a["annotations"] == b["annotations"] and a["images"] == b["images"]
    assert kept.splits == reread.splits and reread.qa_passed


def test_pet_and_ct_of_one_patient_stay_together(tmp_path):
    sts = data_path("tcia_sts/STS_001")
    cases = [ExportCase(sts / "CT/dicom/image", [sts / "CT/dicom/mask/RS.dcm"]),
             ExportCase(sts / "PET/dicom/image", [sts / "PET/nifti/mask/mask.nii.gz"], names={1: "GTV_Mass_PET"})]
    res = export_dataset(cases, tmp_path / "petct", deidentify=True, salt="s", dicom_masks=False)
    assert res.qa_passed and len(res.splits) == 1
    data = json.loads((tmp_path / "petct" / "dataset.json").read_text())
    by_modality = {}
    for im in data["images"]:
        by_modality.setdefault(im["modality"], set()).add((im["patient_id"], im["study_uid"], im["series_uid"],
                                                           im["case"], im["split"]))
    (ct,), (pt,) = by_modality["CT"], by_modality["PT"]
    assert ct[0] == pt[0] == Pseudonymizer("s").patient_id("STS_001")  # one pseudonym
    assert ct[1] == pt[1] and ct[2] != pt[2]  # same (remapped) study, different series
    assert (ct[3], pt[3]) == (f"{ct[0]}_1", f"{ct[0]}_2") and ct[4] == pt[4]
    # the de-identified CT and PET copies still share their study and frame of reference
    first = {d.name: pydicom.dcmread(next(d.glob("*.dcm"))) for d in (tmp_path / "petct" / "dicom").iterdir()}
    a, b = first[ct[3]], first[pt[3]]
    assert a.StudyInstanceUID == b.StudyInstanceUID == ct[1]
    assert a.FrameOfReferenceUID == b.FrameOfReferenceUID
