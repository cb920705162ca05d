"""De-identification of DICOM files: a documented subset of the DICOM PS3.15 Annex E Basic Profile.

Standard: DICOM PS3.15 Annex E "Attribute Confidentiality Profiles", Table E.1-1 (Basic
Application Level Confidentiality Profile, code DCM 113100) with two of its options:

* **Retain Longitudinal Temporal Information with Modified Dates** (DCM 113107): every date (DA) and
  the date part of every date-time (DT) is shifted by the same whole number of days per patient
  (derived from the salt and the original PatientID, so the studies of one patient keep their
  intervals); times (TM) are kept, so PET injection and acquisition times still give the uptake time.
* **Retain Patient Characteristics** (DCM 113108): PatientSex, PatientAge, PatientSize and
  PatientWeight are kept (body composition indices and SUV need them).

What is done (the subset of Table E.1-1 implemented here; action letters as in the standard):

============================  ======  ==========================================================
Attribute(s)                  Action  Here
============================  ======  ==========================================================
PatientName, PatientID        D       replaced by the pseudonym ``MLP-<10 hex>`` (salted SHA-256)
PatientBirthDate              Z       emptied (PatientAge is kept)
AccessionNumber, StudyID      Z       emptied
ReferringPhysicianName        Z       emptied
every other PN (person name)  X/Z     emptied (operators, physicians, content creator, ...)
:data:`REMOVE` keywords       X       removed (addresses, phones, other ids, institution,
                                      station, device serial, descriptions, comments, protocol,
                                      request attributes, clinical-trial attributes, ...)
every UI value                U       remapped to ``2.25.<salted SHA-256 as integer>`` except
                                      DICOM-defined UIDs (1.2.840.10008.*); the same original
                                      UID always maps to the same new one, so references between
                                      files (series, frame of reference, SEG → image) stay valid
DA / DT values                        shifted per patient (option 113107)
private tags                  X       removed (all, recursively)
elements of unknown VR (UN)   X       removed (their content cannot be inspected)
overlays (60xx)               X       removed
============================  ======  ==========================================================

Then PatientIdentityRemoved = YES, LongitudinalTemporalInformationModified = MODIFIED,
DeidentificationMethod and DeidentificationMethodCodeSequence (113100, 113107, 113108) are set.
As a last clean-up every text value still containing the original PatientID or PatientName
(3 or more characters) has it replaced by the pseudonym.

Not done (document it when you publish a data set): pixel data is not inspected for burned-in
text (CT and PET rarely carry any; check ``BurnedInAnnotation``), structured-report content items
are not cleaned, and the salt must be kept secret (whoever knows it can test a guessed PatientID).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DicomError, InputError, ReadError

#: keywords removed (action X of PS3.15 Table E.1-1; subset)
REMOVE: tuple[str, ...] = (
    "PatientBirthTime", "PatientBirthName", "PatientMotherBirthName", "OtherPatientIDs",
    "OtherPatientIDsSequence", "OtherPatientNames", "PatientAddress", "PatientTelephoneNumbers",
    "PatientTelecomInformation", "MilitaryRank", "BranchOfService", "EthnicGroup", "Occupation",
    "AdditionalPatientHistory", "PatientComments", "MedicalRecordLocator", "PatientReligiousPreference",
    "CountryOfResidence", "RegionOfResidence", "InsurancePlanIdentification", "PatientInsurancePlanCodeSequence",
    "IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence", "ResponsiblePerson", "ResponsibleOrganization",
    "PatientState", "MedicalAlerts", "Allergies", "SmokingStatus", "PregnancyStatus", "LastMenstrualDate",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "InstitutionCodeSequence",
    "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers", "ReferringPhysicianIdentificationSequence",
    "PhysiciansOfRecord", "PhysiciansOfRecordIdentificationSequence", "PerformingPhysicianName",
    "PerformingPhysicianIdentificationSequence", "NameOfPhysiciansReadingStudy",
    "PhysiciansReadingStudyIdentificationSequence", "OperatorsName", "OperatorIdentificationSequence",
    "RequestingPhysician", "RequestingService", "ScheduledPerformingPhysicianName", "StationName",
    "DeviceSerialNumber", "DetectorID", "GantryID", "PlateID", "CassetteID", "StudyDescription",
    "SeriesDescription", "ImageComments", "FrameComments", "DerivationDescription", "ProtocolName",
    "RequestAttributesSequence", "RequestedProcedureDescription", "RequestedProcedureID",
    "PerformedProcedureStepDescription", "PerformedProcedureStepID", "ScheduledProcedureStepID",
    "AdmissionID", "AdmittingDiagnosesDescription", "AdmittingDiagnosesCodeSequence", "ReasonForStudy",
    "RequestedContrastAgent", "StudyComments", "InterpretationAuthor", "TextComments", "VisitComments",
    "CurrentPatientLocation", "PatientInstitutionResidence", "ReferencedPatientSequence",
    "ReferencedStudySequence", "ReferencedPerformedProcedureStepSequence", "AcquisitionComments",
    "ContributionDescription", "PersonAddress", "PersonTelephoneNumbers", "ModifiedAttributesSequence",
    "OriginalAttributesSequence", "DigitalSignaturesSequence", "DataSetTrailingPadding",
)
#: keywords emptied (action Z)
EMPTY: tuple[str, ...] = ("PatientBirthDate", "AccessionNumber", "StudyID", "ReferringPhysicianName")
#: patient characteristics kept under the Retain Patient Characteristics Option (113108)
KEEP: tuple[str, ...] = ("PatientSex", "PatientAge", "PatientSize", "PatientWeight")

_METHOD_CODES = (("113100", "Basic Application Confidentiality Profile"),
                 ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
                 ("113108", "Retain Patient Characteristics Option"))
_DICOM_ROOT = "1.2.840.10008."


@dataclass
class Pseudonymizer:
    """Consistent pseudonyms for patient ids and UIDs, and per-patient date shifts, from one salt.

    Parameters
    ----------
    salt : str
        Secret text mixed into every hash. The same salt gives the same pseudonyms (re-exports
        and later additions stay consistent); keep it out of the published data set.
    max_shift_days : int
        Dates move back by 1..``max_shift_days`` days (never 0, never forward).
    """

    salt: str
    max_shift_days: int = 3650
    uid_map: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.salt:
            raise InputError("de-identification needs a non-empty salt (CLI: --salt, or let the export draw one)")
        if self.max_shift_days < 1:
            raise InputError(f"max_shift_days must be >= 1; got {self.max_shift_days}")

    def _digest(self, kind: str, text: str) -> bytes:
        return hashlib.sha256(f"{self.salt}\x00{kind}\x00{text}".encode()).digest()

    def patient_id(self, original: str | None) -> str:
        """``MLP-`` + 10 hex digits of the salted hash of the original PatientID."""
        return "MLP-" + self._digest("patient", str(original or "")).hex()[:10].upper()

    def uid(self, original: str) -> str:
        """A new UID under the UUID-derived root 2.25 (PS3.5 B.2): ``2.25.<128-bit integer>``."""
        original = str(original).strip()
        if not original or original.startswith(_DICOM_ROOT):
            return original
        new = self.uid_map.get(original)
        if new is None:
            new = "2.25." + str(int.from_bytes(self._digest("uid", original)[:16], "big"))
            self.uid_map[original] = new
        return new

    def shift_days(self, original_patient_id: str | None) -> int:
        """Days (negative) added to every date of this patient: -1 .. -max_shift_days."""
        n = int.from_bytes(self._digest("date", str(original_patient_id or ""))[:4], "big")
        return -(1 + n % self.max_shift_days)

    @classmethod
    def random(cls) -> Pseudonymizer:
        """A pseudonymizer with a fresh random salt (pseudonyms then cannot be re-linked)."""
        return cls(os.urandom(16).hex())


def _shift_da(value: str, days: int) -> str:
    value = str(value).strip()
    if len(value) < 8:
        return ""
    try:
        d = _dt.datetime.strptime(value[:8], "%Y%m%d").date() + _dt.timedelta(days=days)
    except ValueError:
        return ""  # not a valid date: remove rather than keep an unshifted value
    return d.strftime("%Y%m%d")


def _shift_dt(value: str, days: int) -> str:
    value = str(value).strip()
    if len(value) < 8:
        return ""
    shifted = _shift_da(value[:8], days)
    return shifted + value[8:] if shifted else ""


def deidentify_dataset(ds, pseudo: Pseudonymizer, *, software: str = "SlicerMedLabel"):
    """De-identify one pydicom Dataset in place (the caller passes a copy it owns); return it.

    Parameters
    ----------
    ds : pydicom.Dataset
        A dataset read from a file (with ``file_meta``); modified in place.
    pseudo : Pseudonymizer
        Gives the new PatientID/Name, the UID mapping and the date shift.
    software : str
        Written into DeidentificationMethod.

    Returns
    -------
    pydicom.Dataset
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    original_id = str(ds.get("PatientID", "") or "")
    original_name = str(ds.get("PatientName", "") or "")
    new_id = pseudo.patient_id(original_id)
    days = pseudo.shift_days(original_id)
    ds.remove_private_tags()
    for elem in list(ds):
        if 0x6000 <= elem.tag.group <= 0x60FF and elem.tag.group % 2 == 0:
            del ds[elem.tag]
    secrets = [s for s in {original_id, original_name, original_name.replace("^", " ").strip()} if len(s) >= 3]

    def clean(dataset, elem) -> None:
        kw = elem.keyword
        if kw in REMOVE or kw.startswith("ClinicalTrial"):
            del dataset[elem.tag]
            return
        if kw in KEEP:
            return
        if kw in EMPTY:
            elem.value = ""
            return
        vr = elem.VR
        if vr == "UN":  # value of unknown type: cannot be inspected, so it is not kept
            del dataset[elem.tag]
        elif vr == "PN":
            elem.value = ""
        elif vr == "UI" and elem.value:
            vals = elem.value if elem.VM > 1 else [elem.value]
            new = [pseudo.uid(str(v)) for v in vals]
            elem.value = new if elem.VM > 1 else new[0]
        elif vr == "DA" and elem.value:
            vals = elem.value if elem.VM > 1 else [elem.value]
            new = [_shift_da(v, days) for v in vals]
            elem.value = new if elem.VM > 1 else new[0]
        elif vr == "DT" and elem.value:
            vals = elem.value if elem.VM > 1 else [elem.value]
            new = [_shift_dt(v, days) for v in vals]
            elem.value = new if elem.VM > 1 else new[0]
        elif vr in ("LO", "SH", "ST", "LT", "UT", "CS", "AE") and elem.value and secrets:
            text = str(elem.value)
            if any(s in text for s in secrets):
                for s in secrets:
                    text = text.replace(s, new_id)
                elem.value = text

    ds.walk(clean)
    ds.PatientID = new_id
    ds.PatientName = new_id
    ds.PatientIdentityRemoved = "YES"
    ds.LongitudinalTemporalInformationModified = "MODIFIED"
    ds.DeidentificationMethod = (f"{software}: DICOM PS3.15 E.1 Basic Profile subset; Retain Longitudinal "
                                 "Temporal Information Modified Dates; Retain Patient Characteristics")[:64]
    items = []
    for value, meaning in _METHOD_CODES:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = DicomSequence(items)
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def deidentify_files(files: Sequence[str | os.PathLike], out_dir: str | os.PathLike, pseudo: Pseudonymizer, *,
                     force: bool = False, progress: Callable[[float, str], None] | None = None) -> list[Path]:
    """De-identify DICOM files into ``out_dir`` (named ``<new SOPInstanceUID>.dcm``); return the new paths.

    The originals are never modified. Each output is written atomically and an existing file is
    not replaced unless ``force``. Files are returned in the order given.
    """
    import pydicom

    from ..io import atomic_write

    out_dir = Path(out_dir)
    outputs: list[Path] = []
    files = list(files)
    if not files:
        raise InputError("deidentify_files: no files given")
    quiet = logging.getLogger("pydicom")
    level = quiet.level
    for n, f in enumerate(files):
        f = Path(f)
        try:
            quiet.setLevel(logging.ERROR)  # value-length notes about the source are not ours to fix
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                ds = pydicom.dcmread(f)
                ds.decode()
        except FileNotFoundError:
            raise ReadError(f"{f} does not exist") from None
        except Exception as exc:
            raise DicomError(f"{f} is not a readable DICOM file ({type(exc).__name__}: {exc})") from exc
        finally:
            quiet.setLevel(level)
        if "SOPInstanceUID" not in ds:
            raise DicomError(f"{f} has no SOPInstanceUID; it is not a DICOM instance that can be de-identified")
        deidentify_dataset(ds, pseudo)
        target = out_dir / f"{ds.SOPInstanceUID}.dcm"
        with atomic_write(target, force) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ds.save_as(tmp, enforce_file_format=True)
        outputs.append(target)
        if progress:
            progress((n + 1) / len(files), f"de-identified {n + 1}/{len(files)} files")
    return outputs
