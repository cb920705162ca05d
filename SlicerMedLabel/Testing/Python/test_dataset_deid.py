"""medlabel.dataset.deid on copies of real DICOM: no PHI left, same pixels and geometry, consistent
UIDs and date shifts, kept patient characteristics and PET times."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from conftest import data_path
from medlabel.dataset.deid import Pseudonymizer, deidentify_files
from medlabel.errors import DicomError, InputError
from medlabel.io import read_image


def _copy(src: Path, dst: Path) -> list[Path]:
    dst.mkdir(parents=True)
    for f in sorted(src.glob("*.dcm")):
        shutil.copy(f, dst / f.name)
    return sorted(dst.glob("*.dcm"))


def _phi(files: list[Path]) -> set[str]:
    """Original identifying strings of the series: names, ids and every non-standard UID."""
    out = set()
    for f in files:
        ds = pydicom.dcmread(f)
        for kw in ("PatientName", "PatientID", "AccessionNumber"):
            v = str(ds.get(kw, "") or "")
            if len(v) >= 3:
                out.add(v)

        def uids(dataset, elem):
            if elem.VR == "UI" and elem.value:
                for v in (elem.value if elem.VM > 1 else [elem.value]):
                    if not str(v).startswith("1.2.840.10008."):
                        out.add(str(v))

        ds.walk(uids)
        out.add(str(ds.file_meta.MediaStorageSOPInstanceUID))
    return out


@pytest.fixture(scope="module")
def ct3(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deid")
    src = _copy(data_path("dcmqi/ct-3slice"), tmp / "src")
    digest = {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in src}
    out = deidentify_files(src, tmp / "out", Pseudonymizer("test-salt"))
    return src, out, digest


def test_no_original_identifier_remains_in_the_bytes(ct3):
    src, out, _ = ct3
    secrets = _phi(src)
    assert "JANCT000" in secrets and "99000" in secrets and len(secrets) > 6
    for f in out:
        raw = f.read_bytes()
        leaked = [s for s in secrets if s.encode() in raw]
        assert not leaked, f"{f.name} still holds {leaked}"


def test_same_pixels_and_geometry(ct3):
    src, out, _ = ct3
    a = read_image(src[0].parent)
    b = read_image(out[0].parent)
    np.testing.assert_array_equal(a.array, b.array)
    assert a.same_geometry(b, tol_mm=1e-6)
    assert b.meta["PatientSex"] == a.meta["PatientSex"] == "M"
    assert b.meta["PatientAge"] == a.meta["PatientAge"] == "060Y"
    assert b.meta["Modality"] == "CT" and b.meta["Manufacturer"] == a.meta["Manufacturer"]


def test_originals_untouched_and_header_marks(ct3):
    src, out, digest = ct3
    assert {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in src} == digest
    orig = pydicom.dcmread(src[0])
    ds = pydicom.dcmread(out[0])
    assert sum(1 for e in orig if e.tag.is_private) > 0
    private = []
    ds.walk(lambda d, e: private.append(e.tag) if e.tag.is_private else None)
    assert private == []
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert [c.CodeValue for c in ds.DeidentificationMethodCodeSequence] == ["113100", "113107", "113108"]
    assert ds.PatientID == ds.PatientName == Pseudonymizer("test-salt").patient_id("99000")
    assert ds.AccessionNumber == "" and ds.get("InstitutionName") is None
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert out[0].name == f"{ds.SOPInstanceUID}.dcm"
    # study date shifted back by the patient's offset; the time of day kept
    shift = Pseudonymizer("test-salt").shift_days("99000")
    assert -3650 <= shift <= -1
    d0 = dt.datetime.strptime(orig.StudyDate, "%Y%m%d") + dt.timedelta(days=shift)
    assert ds.StudyDate == d0.strftime("%Y%m%d")
    assert ds.StudyTime == orig.StudyTime


def test_pet_ct_of_one_patient_stay_linked(tmp_path):
    ct_src = _copy(data_path("tcia_sts/STS_001/CT/dicom/image"), tmp_path / "ct")[:4]
    pet_src = _copy(data_path("tcia_sts/STS_001/PET/dicom/image"), tmp_path / "pet")[:4]
    pseudo = Pseudonymizer("s1")
    ct = [pydicom.dcmread(f) for f in deidentify_files(ct_src, tmp_path / "out_ct", pseudo)]
    pet = [pydicom.dcmread(f) for f in deidentify_files(pet_src, tmp_path / "out_pet", pseudo)]
    o_ct, o_pet = pydicom.dcmread(ct_src[0]), pydicom.dcmread(pet_src[0])
    # the same original UID maps to the same new one in both series; different UIDs stay different
    assert o_ct.StudyInstanceUID == o_pet.StudyInstanceUID and ct[0].StudyInstanceUID == pet[0].StudyInstanceUID
    assert ct[0].FrameOfReferenceUID == pet[0].FrameOfReferenceUID
    assert ct[0].SeriesInstanceUID != pet[0].SeriesInstanceUID
    assert len({d.SOPInstanceUID for d in ct + pet}) == 8
    assert ct[0].StudyInstanceUID != o_ct.StudyInstanceUID and ct[0].StudyInstanceUID.startswith("2.25.")
    assert len(ct[0].StudyInstanceUID) <= 64
    # PET dose/time tags and patient characteristics kept, dates shifted by the same days as the CT
    r, o_r = pet[0].RadiopharmaceuticalInformationSequence[0], o_pet.RadiopharmaceuticalInformationSequence[0]
    assert r.RadiopharmaceuticalStartTime == o_r.RadiopharmaceuticalStartTime
    assert float(r.RadionuclideTotalDose) == float(o_r.RadionuclideTotalDose)
    assert pet[0].SeriesTime == o_pet.SeriesTime
    assert float(pet[0].PatientWeight) == 71.0 and float(pet[0].PatientSize) == 1.63
    assert pet[0].PatientSex == "M" and pet[0].PatientAge == "059Y"

    def days(a, b):
        return (dt.datetime.strptime(a, "%Y%m%d") - dt.datetime.strptime(b, "%Y%m%d")).days

    assert days(ct[0].StudyDate, o_ct.StudyDate) == days(pet[0].SeriesDate, o_pet.SeriesDate) == \
        pseudo.shift_days("STS_001")
    # same salt -> same pseudonyms in a second run; another salt -> others
    again = pydicom.dcmread(deidentify_files(ct_src[:1], tmp_path / "again", Pseudonymizer("s1"))[0])
    assert again.SOPInstanceUID == ct[0].SOPInstanceUID and again.PatientID == ct[0].PatientID
    other = pydicom.dcmread(deidentify_files(ct_src[:1], tmp_path / "other", Pseudonymizer("s2"))[0])
    assert other.SOPInstanceUID != ct[0].SOPInstanceUID and other.PatientID != ct[0].PatientID


def test_errors(tmp_path):
    with pytest.raises(InputError, match="salt"):
        Pseudonymizer("")
    bad = tmp_path / "x.dcm"
    bad.write_text("not dicom")
    with pytest.raises(DicomError, match="x.dcm"):
        deidentify_files([bad], tmp_path / "o", Pseudonymizer("s"))
    with pytest.raises(InputError, match="no files"):
        deidentify_files([], tmp_path / "o", Pseudonymizer("s"))


def test_nested_phi_and_unknown_elements(tmp_path):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from medlabel.dataset.deid import deidentify_dataset

    ds = pydicom.dcmread(data_path("dcmqi/ct-3slice/01.dcm"))
    item = Dataset()
    item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    item.ReferencedSOPClassUID = ds.SOPClassUID
    item.OperatorsName = "Doe^Jane"  # removed inside a sequence too
    item.ContentCreatorName = "Roe^Richard"  # any person name is emptied
    item.AcquisitionDateTime = "20030417101500.000000+0100"
    ds.SourceImageSequence = Sequence([item])
    ds.add_new((0x0009, 0x0010), "LO", "ACME")  # private creator + element
    ds.add_new((0x0009, 0x1001), "LO", "JANCT000 secret")
    ds.add_new((0x0018, 0x9999), "UN", b"JANCT000")  # unknown public element
    ds.ImageComments = "patient JANCT000"
    ds.StudyDescription = "CT for 99000"
    ds.ContrastBolusAgent = "IOPAMIDOL 99000"  # a kept text field that mentions the PatientID
    pseudo = Pseudonymizer("nested")
    out = deidentify_dataset(ds, pseudo)
    ref = out.SourceImageSequence[0]
    assert ref.ReferencedSOPInstanceUID == out.SOPInstanceUID  # references follow the remapped UID
    assert ref.ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"  # DICOM-defined UIDs are kept
    assert "OperatorsName" not in ref and ref.ContentCreatorName == ""
    assert ref.AcquisitionDateTime.endswith("101500.000000+0100")
    shifted = dt.datetime.strptime(ref.AcquisitionDateTime[:8], "%Y%m%d") - dt.datetime(2003, 4, 17)
    assert shifted.days == pseudo.shift_days("99000")
    assert (0x0009, 0x1001) not in out and (0x0018, 0x9999) not in out
    assert "ImageComments" not in out and "StudyDescription" not in out
    assert out.ContrastBolusAgent == f"IOPAMIDOL {out.PatientID}"
    path = tmp_path / "x.dcm"
    out.save_as(path, enforce_file_format=True)
    raw = path.read_bytes()
    assert b"JANCT000" not in raw and b"99000" not in raw and b"Doe^Jane" not in raw
