"""Standardized uptake values (SUV) from DICOM PET tags, with decay correction.

The conversion follows the vendor-neutral rules of the QIBA FDG-PET/CT Profile's "SUV calculation"
pseudo-code (QIBA FDG-PET/CT Technical Committee, 2019; https://qibawiki.rsna.org, "Standardized
Uptake Value (SUV)") and DICOM PS3.3 C.8.9.1 (PET Series module: Units (0054,1001), Decay Correction
(0054,1102)) and C.8.9.2 (PET Isotope module: Radiopharmaceutical Information Sequence):

* **Units BQML** (activity concentration, Bq/ml):
  ``SUVbw = value * weight_g / decayed_dose_bq``.

  - DecayCorrection **START**: the image is decay corrected to the series start. The reference time
    is SeriesDate/SeriesTime, unless that is later than the earliest AcquisitionDate/Time (possible
    after post-processing), in which case the earliest acquisition time is used.
    ``decayed_dose = dose * 2 ** (-(t_ref - t_injection) / half_life)``.
  - DecayCorrection **ADMIN**: the image is decay corrected to the administration time already:
    ``decayed_dose = dose`` (no times are needed).
  - DecayCorrection **NONE**: every slice is decayed to its own AcquisitionDate/Time (per-slice factor).
* **Units CNTS** (Philips): the private tag SUV Scale Factor (7053,1000) maps rescaled values to
  SUVbw directly; if it is absent, Activity Concentration Scale Factor (7053,1009) maps counts to
  Bq/ml and the BQML rules apply. Without either, counts cannot be converted (error).
* **Units GML**: the image is SUVbw already (factor 1).

Lean body mass and body surface area variants are derived from SUVbw:
``SUVlbm = SUVbw * LBM / weight`` (g/ml) and ``SUVbsa = SUVbw * BSA_cm2 / weight_g`` (cm²/ml):

* LBM after James (1976), in: Research on obesity, HMSO London;
  men ``1.10 W - 128 (W/H)²``, women ``1.07 W - 148 (W/H)²`` (W kg, H cm).
* LBM after Janmahasatian et al., Clin Pharmacokinet 2005;44(10):1051-65 (default; recommended by
  PERCIST, Wahl et al., J Nucl Med 2009;50 Suppl 1:122S-50S):
  men ``9270 W / (6680 + 216 BMI)``, women ``9270 W / (8780 + 244 BMI)``.
* BSA after Du Bois & Du Bois, Arch Intern Med 1916;17:863-71: ``0.007184 W^0.425 H_cm^0.725`` m².

Injection date: when only RadiopharmaceuticalStartTime (no ...StartDateTime) is present, the
injection is assumed on the series date; if that puts it after the scan, and the scan follows the
injection within ``max_uptake_h`` when moved to the previous day, a midnight crossing is assumed
(and noted). Otherwise an injection after the acquisition start is an error.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np

from ..errors import InputError, MissingTagError

LN2 = math.log(2.0)


class Units(StrEnum):
    BQML = "BQML"
    CNTS = "CNTS"
    GML = "GML"


class DecayCorrection(StrEnum):
    START = "START"
    ADMIN = "ADMIN"
    NONE = "NONE"


class SuvType(StrEnum):
    """Normalisation of the SUV: body weight (g/ml), lean body mass (g/ml), body surface area (cm²/ml)."""

    BW = "bw"
    LBM = "lbm"
    BSA = "bsa"


class LbmFormula(StrEnum):
    JAMES = "james"
    JANMAHASATIAN = "janmahasatian"


SUV_UNITS = {SuvType.BW: "g/ml", SuvType.LBM: "g/ml", SuvType.BSA: "cm2/ml"}


def _enum(cls, value, name: str):
    try:
        return cls(value.lower() if cls in (SuvType, LbmFormula) and isinstance(value, str) else value)
    except ValueError:
        known = ", ".join(v.value for v in cls)
        raise InputError(f"{name}={value!r} is not valid; use one of: {known}") from None


# -- body size formulas -------------------------------------------------------------------------

def _check_body(weight_kg: float, height_m: float) -> None:
    if not (weight_kg and weight_kg > 0):
        raise InputError(f"weight_kg must be a positive number; got {weight_kg}")
    if not (height_m and 0.3 < height_m < 3.0):
        raise InputError(f"height_m must be in metres (0.3..3.0); got {height_m}. Give 1.75, not 175.")


def _check_sex(sex: str | None) -> str:
    s = (sex or "").strip().upper()[:1]
    if s not in ("M", "F"):
        raise MissingTagError(
            f"PatientSex is {sex!r}; lean body mass needs 'M' or 'F': supply sex='M' or 'F' (CLI: --sex)")
    return s


def lbm_james_kg(weight_kg: float, height_m: float, sex: str) -> float:
    """Lean body mass (kg) after James (1976).

    ``M: 1.10 W - 128 (W/H)²``, ``F: 1.07 W - 148 (W/H)²`` with W in kg and H in cm.

    Examples
    --------
    >>> round(lbm_james_kg(70.0, 1.75, "M"), 2)
    56.52
    """
    _check_body(weight_kg, height_m)
    h_cm = height_m * 100.0
    if _check_sex(sex) == "M":
        return 1.10 * weight_kg - 128.0 * (weight_kg / h_cm) ** 2
    return 1.07 * weight_kg - 148.0 * (weight_kg / h_cm) ** 2


def lbm_janmahasatian_kg(weight_kg: float, height_m: float, sex: str) -> float:
    """Lean body mass (kg) after Janmahasatian et al. (2005).

    ``M: 9270 W / (6680 + 216 BMI)``, ``F: 9270 W / (8780 + 244 BMI)``, ``BMI = W / H_m²``.

    Examples
    --------
    >>> round(lbm_janmahasatian_kg(70.0, 1.75, "M"), 2)
    55.86
    """
    _check_body(weight_kg, height_m)
    bmi = weight_kg / height_m**2
    if _check_sex(sex) == "M":
        return 9270.0 * weight_kg / (6680.0 + 216.0 * bmi)
    return 9270.0 * weight_kg / (8780.0 + 244.0 * bmi)


def bsa_dubois_m2(weight_kg: float, height_m: float) -> float:
    """Body surface area (m²) after Du Bois & Du Bois (1916): ``0.007184 W^0.425 H_cm^0.725``.

    Examples
    --------
    >>> round(bsa_dubois_m2(70.0, 1.75), 3)
    1.848
    """
    _check_body(weight_kg, height_m)
    return 0.007184 * weight_kg**0.425 * (height_m * 100.0) ** 0.725


# -- DICOM date/time ----------------------------------------------------------------------------

def parse_dicom_date(text: Any) -> dt.date | None:
    """DA 'YYYYMMDD' (also 'YYYY.MM.DD' / 'YYYY-MM-DD') to a date; empty gives None."""
    s = re.sub(r"[.\-/]", "", str(text or "").strip())
    if not s:
        return None
    try:
        return dt.datetime.strptime(s[:8], "%Y%m%d").date()
    except ValueError:
        raise InputError(f"date {text!r} is not a DICOM date YYYYMMDD") from None


def parse_dicom_time(text: Any) -> dt.time | None:
    """TM 'HHMMSS.ffffff' (parts may be omitted; 'HH:MM:SS' also accepted) to a time; empty gives None."""
    s = str(text or "").strip().replace(":", "")
    if not s:
        return None
    m = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?", s)
    if not m:
        raise InputError(f"time {text!r} is not a DICOM time HHMMSS.ffffff (or HH:MM:SS)")
    hh, mm, ss, frac = m.groups()
    us = int((frac or "0").ljust(6, "0"))
    try:
        return dt.time(int(hh), int(mm or 0), int(ss or 0), us)
    except ValueError:
        raise InputError(f"time {text!r} is out of range") from None


def parse_dicom_datetime(text: Any) -> dt.datetime | None:
    """DT 'YYYYMMDDHHMMSS.ffffff[&ZZXX]' to a naive datetime (the UTC offset is dropped: all PET
    times of one study share the scanner's clock); empty gives None."""
    s = str(text or "").strip()
    if not s:
        return None
    s = re.split(r"[+\-]\d{4}$", s)[0] if len(s) > 8 else s
    d = parse_dicom_date(s[:8])
    t = parse_dicom_time(s[8:]) if len(s) > 8 else dt.time(0)
    return dt.datetime.combine(d, t)


def _parse_user_datetime(value: Any, base_date: dt.date | None, what: str) -> dt.datetime:
    """A datetime given by hand: datetime, ISO text, DICOM DT, or a time 'HH:MM[:SS]' on ``base_date``."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    s = str(value).strip()
    try:
        return dt.datetime.fromisoformat(s).replace(tzinfo=None)
    except ValueError:
        pass
    if re.fullmatch(r"\d{8}\d{2,}(\.\d+)?", s):
        return parse_dicom_datetime(s)
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?", s):
        s = s.zfill(len(s) + (1 if len(s.split(":")[0]) == 1 else 0))
        t = parse_dicom_time(s)
        if base_date is None:
            raise InputError(f"{what}={value!r} is a time without a date and the series has no SeriesDate; "
                             "give a full date and time, e.g. 2024-03-01T08:45:00")
        return dt.datetime.combine(base_date, t)
    raise InputError(f"{what}={value!r} is not a date/time; use 2024-03-01T08:45:00, 20240301084500 or 08:45")


# -- tags ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PetTags:
    """The PET tags that SUV conversion needs, collected from the headers of one series.

    Per-slice values are in array (z) order. ``None`` means the tag was absent or empty.
    """

    source: str = ""
    units: str | None = None
    decay_correction: str | None = None
    corrected_image: tuple[str, ...] = ()
    injected_dose_bq: float | None = None
    half_life_s: float | None = None
    injection_datetime: dt.datetime | None = None
    injection_time: dt.time | None = None  # RadiopharmaceuticalStartTime when no ...StartDateTime
    series_datetime: dt.datetime | None = None
    acquisition_datetimes: tuple[dt.datetime | None, ...] = ()
    weight_kg: float | None = None
    height_m: float | None = None
    sex: str | None = None
    philips_suv_factor: tuple[float | None, ...] = ()
    philips_activity_factor: tuple[float | None, ...] = ()
    series_uid: str = ""
    manufacturer: str = ""

    @property
    def n_slices(self) -> int:
        return max(len(self.acquisition_datetimes), len(self.philips_suv_factor), 1)


def _num(ds, keyword: str) -> float | None:
    v = ds.get(keyword) if ds is not None else None
    if v is None or str(v).strip() == "":
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _private_float(ds, group: int, elem: int) -> float | None:
    tag = (group << 16) | elem
    if tag not in ds:
        return None
    v = ds[tag].value
    try:
        if isinstance(v, bytes):  # stored as UN in implicit files: decimal string or float64
            txt = v.decode("ascii", "ignore").strip("\x00 ")
            try:
                return float(txt)
            except ValueError:
                return float(np.frombuffer(v[:8], "<f8")[0]) if len(v) >= 8 else None
        if isinstance(v, (list, tuple)):
            v = v[0]
        return float(v)
    except (TypeError, ValueError):
        return None


def pet_tags_from_headers(headers: Sequence[Any], *, source: str = "") -> PetTags:
    """Collect SUV-relevant tags from the pydicom headers of one PET series.

    Parameters
    ----------
    headers : sequence of pydicom.Dataset
        One header per slice, in array (z) order (pixel data not needed).
    source : str
        File or folder name, used in error messages.

    Returns
    -------
    PetTags
    """
    if not headers:
        raise InputError(f"no PET headers given ({source or 'empty list'})")
    first = headers[0]
    modality = str(first.get("Modality", "") or "")
    if modality and modality != "PT":
        raise InputError(f"{source}: Modality is {modality!r}, not 'PT'; SUV needs a PET series")
    rp = None
    seq = first.get("RadiopharmaceuticalInformationSequence")
    if seq:
        rp = seq[0]
    inj_dt = parse_dicom_datetime(rp.get("RadiopharmaceuticalStartDateTime")) if rp is not None else None
    inj_t = parse_dicom_time(rp.get("RadiopharmaceuticalStartTime")) if rp is not None else None
    sdate, stime = parse_dicom_date(first.get("SeriesDate")), parse_dicom_time(first.get("SeriesTime"))
    series_dt = dt.datetime.combine(sdate, stime) if sdate and stime else None
    acq = []
    for h in headers:
        adt = parse_dicom_datetime(h.get("AcquisitionDateTime"))
        if adt is None:
            ad = parse_dicom_date(h.get("AcquisitionDate")) or sdate
            at = parse_dicom_time(h.get("AcquisitionTime"))
            adt = dt.datetime.combine(ad, at) if ad and at else None
        acq.append(adt)
    sex = str(first.get("PatientSex", "") or "").strip() or None
    return PetTags(
        source=source,
        units=(str(first.get("Units", "") or "").strip().upper() or None),
        decay_correction=(str(first.get("DecayCorrection", "") or "").strip().upper() or None),
        corrected_image=tuple(str(v).upper() for v in (first.get("CorrectedImage") or [])),
        injected_dose_bq=_num(rp, "RadionuclideTotalDose"),
        half_life_s=_num(rp, "RadionuclideHalfLife"),
        injection_datetime=inj_dt,
        injection_time=inj_t,
        series_datetime=series_dt,
        acquisition_datetimes=tuple(acq),
        weight_kg=_num(first, "PatientWeight") or None,
        height_m=_num(first, "PatientSize") or None,
        sex=sex,
        philips_suv_factor=tuple(_private_float(h, 0x7053, 0x1000) for h in headers),
        philips_activity_factor=tuple(_private_float(h, 0x7053, 0x1009) for h in headers),
        series_uid=str(first.get("SeriesInstanceUID", "") or ""),
        manufacturer=str(first.get("Manufacturer", "") or ""),
    )


# -- conversion ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SuvConversion:
    """Result of :func:`suv_conversion`: per-slice factors that map image values to SUV.

    ``suv = image_value * factor_per_slice[z]``. Units: g/ml (bw, lbm) or cm²/ml (bsa).
    """

    suv_type: SuvType
    factor_per_slice: np.ndarray
    units: str
    input_units: str
    decay_correction: str | None
    injected_dose_bq: float | None = None
    decayed_dose_bq: float | None = None
    uptake_time_s: float | None = None
    half_life_s: float | None = None
    weight_kg: float | None = None
    height_m: float | None = None
    sex: str | None = None
    lbm_kg: float | None = None
    lbm_formula: str | None = None
    bsa_m2: float | None = None
    injection_datetime: dt.datetime | None = None
    reference_datetime: dt.datetime | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def factor(self) -> float:
        """The single factor when all slices share it; raises when they differ (use factor_per_slice)."""
        f = np.asarray(self.factor_per_slice, float)
        if not np.allclose(f, f[0], rtol=1e-9):
            raise InputError("SUV factors differ per slice; use factor_per_slice")
        return float(f[0])

    def apply(self, values: np.ndarray) -> np.ndarray:
        """SUV array (float64) from a (Z, Y, X) array of image values (Bq/ml, counts or SUV)."""
        v = np.asarray(values, dtype=np.float64)
        f = np.asarray(self.factor_per_slice, float)
        if v.ndim != 3 or (len(f) != 1 and len(f) != v.shape[0]):
            raise InputError(f"values shape {v.shape} does not fit {len(f)} per-slice SUV factors")
        return v * f.reshape(-1, 1, 1)

    def as_dict(self) -> dict[str, Any]:
        """Flat provenance record (JSON-friendly)."""
        f = np.asarray(self.factor_per_slice, float)
        out = {
            "suv_type": self.suv_type.value, "suv_units": self.units, "input_units": self.input_units,
            "decay_correction": self.decay_correction,
            "suv_factor": float(f[0]) if np.allclose(f, f[0]) else None,
            "injected_dose_bq": self.injected_dose_bq, "decayed_dose_bq": self.decayed_dose_bq,
            "uptake_time_s": self.uptake_time_s, "half_life_s": self.half_life_s,
            "weight_kg": self.weight_kg, "height_m": self.height_m, "sex": self.sex,
            "lbm_kg": self.lbm_kg, "lbm_formula": self.lbm_formula, "bsa_m2": self.bsa_m2,
            "injection_datetime": self.injection_datetime.isoformat() if self.injection_datetime else None,
            "reference_datetime": self.reference_datetime.isoformat() if self.reference_datetime else None,
            "notes": "; ".join(self.notes),
        }
        return out


def _missing(tag: str, source: str, hint: str) -> MissingTagError:
    return MissingTagError(f"{tag} is missing in PET series {source or '(unnamed)'}: {hint}")


#: plausible body weight range (kg) for values given by hand (neonates to the heaviest adults)
_WEIGHT_KG = (0.5, 650.0)


def suv_conversion(
    tags: PetTags,
    *,
    suv_type: SuvType | str = SuvType.BW,
    lbm_formula: LbmFormula | str = LbmFormula.JANMAHASATIAN,
    injected_dose_bq: float | None = None,
    weight_kg: float | None = None,
    height_m: float | None = None,
    sex: str | None = None,
    injection_datetime: dt.datetime | str | None = None,
    reference_datetime: dt.datetime | str | None = None,
    half_life_s: float | None = None,
    max_uptake_h: float = 12.0,
    require_attenuation_correction: bool = True,
) -> SuvConversion:
    """Per-slice factors converting PET image values to SUV (body weight, lean body mass or BSA).

    Parameters
    ----------
    tags : PetTags
        From :func:`pet_tags_from_headers`.
    suv_type : {'bw', 'lbm', 'bsa'}
        Normalisation. 'lbm' needs height and sex, 'bsa' needs height.
    lbm_formula : {'janmahasatian', 'james'}
        Lean-body-mass formula (only for ``suv_type='lbm'``).
    injected_dose_bq, weight_kg, height_m, sex, half_life_s : optional
        Values given by hand; they replace the tags (RadionuclideTotalDose in Bq, PatientWeight in kg,
        PatientSize in m, PatientSex 'M'/'F', RadionuclideHalfLife in s).
    injection_datetime : datetime or str, optional
        Injection (radiopharmaceutical start) date and time; replaces the tags. A bare time 'HH:MM[:SS]'
        is placed on the series date.
    reference_datetime : datetime or str, optional
        The time the image is decay corrected to (DecayCorrection START); replaces SeriesDate/Time.
    max_uptake_h : float
        Longest accepted uptake time when a midnight crossing must be assumed (time-only injection).
    require_attenuation_correction : bool
        Refuse series whose CorrectedImage (0028,0051) is present but lacks ATTN (QIBA: SUV of a
        non-attenuation-corrected image is meaningless). Pass False to convert anyway (noted).

    Returns
    -------
    SuvConversion
        ``factor_per_slice`` (Z,) plus every quantity used, for provenance.

    Raises
    ------
    MissingTagError
        A needed tag is absent; the message names it and the argument that supplies it.
    InputError
        Unsupported Units/DecayCorrection, injection after the acquisition start, bad values.

    Examples
    --------
    >>> import datetime as dt
    >>> t = PetTags(units="BQML", decay_correction="START", injected_dose_bq=370e6, half_life_s=6586.2,
    ...             injection_datetime=dt.datetime(2020, 1, 1, 9, 0),
    ...             series_datetime=dt.datetime(2020, 1, 1, 10, 0), weight_kg=70.0)
    >>> conv = suv_conversion(t)
    >>> round(conv.factor * 5000.0, 4)  # 5 kBq/ml -> SUVbw
    1.3817
    """
    suv_type = _enum(SuvType, suv_type, "suv_type")
    lbm_formula = _enum(LbmFormula, lbm_formula, "lbm_formula")
    src = tags.source
    units = (tags.units or "").upper()
    if not units:
        raise _missing("Units (0054,1001)", src, "the PET image units are unknown; SUV cannot be computed")
    n = max(len(tags.acquisition_datetimes), len(tags.philips_suv_factor), 1)
    notes: list[str] = []
    # values given by hand are checked even when the conversion would not need them: a wrong value that
    # is silently ignored (or reported as "missing") hides a typo or a unit mistake
    if weight_kg is not None and not (np.isfinite(weight_kg) and _WEIGHT_KG[0] <= weight_kg <= _WEIGHT_KG[1]):
        raise InputError(f"weight_kg (CLI --weight-kg) must be the body weight in kg "
                         f"({_WEIGHT_KG[0]:g}..{_WEIGHT_KG[1]:g}); got {weight_kg}. Give 72.5, not grams or pounds.")
    if height_m is not None and not (np.isfinite(height_m) and 0.3 < height_m < 3.0):
        raise InputError(f"height_m (CLI --height-m) must be in metres (0.3..3.0); got {height_m}. "
                         "Give 1.75, not 175.")
    for pname, v, hint in (("half_life_s", half_life_s, "--half-life-s; F-18: 6586.2"),
                           ("injected_dose_bq", injected_dose_bq, "CLI --dose-mbq in MBq")):
        if v is not None and not (np.isfinite(v) and v > 0):
            raise InputError(f"{pname} ({hint}) must be a positive number; got {v}")
    weight = weight_kg if weight_kg is not None else tags.weight_kg
    height = height_m if height_m is not None else tags.height_m
    sex_v = sex if sex is not None else tags.sex
    dose = injected_dose_bq if injected_dose_bq is not None else tags.injected_dose_bq
    half = half_life_s if half_life_s is not None else tags.half_life_s
    decay = (tags.decay_correction or "").upper() or None
    inj_used = ref_used = None
    decayed = uptake = None

    def need_weight() -> float:
        if weight is None or weight <= 0:
            raise _missing("PatientWeight (0010,1030)", src, "supply the body weight in kg (weight_kg=, CLI --weight-kg)")
        return float(weight)

    if tags.corrected_image and "ATTN" not in tags.corrected_image:
        if require_attenuation_correction:
            raise InputError(
                f"PET series {src or '(unnamed)'} is not attenuation corrected (CorrectedImage "
                f"{'/'.join(tags.corrected_image)} lacks ATTN); SUVs of such images are not quantitative. "
                "Use the attenuation-corrected series, or pass require_attenuation_correction=False")
        notes.append("image is not attenuation corrected (CorrectedImage lacks ATTN)")
    if (units == Units.BQML and decay in (DecayCorrection.START, DecayCorrection.ADMIN) and tags.corrected_image
            and "DECY" not in tags.corrected_image):
        notes.append(f"DecayCorrection is {decay} but CorrectedImage lacks DECY; the tags disagree")
    if units == Units.GML:
        bw = np.ones(n)
        notes.append("Units GML: image values are SUVbw already")
    elif units in (Units.BQML, Units.CNTS):
        to_bqml = np.ones(n)
        if units == Units.CNTS:
            suvf = tags.philips_suv_factor
            if suvf and all(f is not None and f > 0 for f in suvf):
                bw = np.asarray(suvf, float)
                notes.append("Units CNTS: Philips SUV Scale Factor (7053,1000) used")
                if weight_kg is not None or injected_dose_bq is not None:
                    notes.append("weight/dose given by hand are not used with the Philips SUV factor")
                units_done = True
            else:
                actf = tags.philips_activity_factor
                if not (actf and all(f is not None and f > 0 for f in actf)):
                    raise _missing(
                        "Philips SUV Scale Factor (7053,1000) and Activity Concentration Scale Factor (7053,1009)",
                        src, "Units are CNTS (counts) and without these private tags the counts cannot be "
                        "converted to Bq/ml; export the series as BQML or SUV from the scanner")
                to_bqml = np.asarray(actf, float)
                notes.append("Units CNTS: Philips Activity Concentration Scale Factor (7053,1009) to Bq/ml")
                units_done = False
        else:
            units_done = False
        if not units_done:
            w = need_weight()
            if dose is None or dose <= 0:
                raise _missing("RadionuclideTotalDose (0018,1074)", src,
                               "supply the injected activity (injected_dose_bq=, CLI --dose-mbq)")
            if decay is None:
                raise _missing("DecayCorrection (0054,1102)", src, "cannot tell how the image was decay corrected")
            if decay == DecayCorrection.ADMIN:
                decayed = np.full(n, float(dose))
                notes.append("DecayCorrection ADMIN: image decay corrected to injection, dose not decayed")
            elif decay in (DecayCorrection.START, DecayCorrection.NONE):
                if half is None or half <= 0:
                    raise _missing("RadionuclideHalfLife (0018,1075)", src,
                                   "supply the half-life in s (half_life_s=, CLI --half-life-s; F-18: 6586.2)")
                base_date = tags.series_datetime.date() if tags.series_datetime else None
                if decay == DecayCorrection.START:
                    if reference_datetime is not None:
                        ref = _parse_user_datetime(reference_datetime, base_date, "reference_datetime")
                    else:
                        ref = tags.series_datetime
                        acq = [a for a in tags.acquisition_datetimes if a is not None]
                        if ref is None and not acq:
                            raise _missing("SeriesDate/SeriesTime (0008,0021/0031)", src,
                                           "supply the decay-correction reference time "
                                           "(reference_datetime=, CLI --scan-time)")
                        if acq and (ref is None or min(acq) < ref):
                            if ref is not None:
                                notes.append("SeriesTime after the first AcquisitionTime: earliest acquisition used")
                            ref = min(acq)
                    refs = [ref] * n
                else:  # NONE: each slice decays to its own acquisition start
                    if reference_datetime is not None:
                        r = _parse_user_datetime(reference_datetime, base_date, "reference_datetime")
                        refs = [r] * n
                    else:
                        if not tags.acquisition_datetimes or any(a is None for a in tags.acquisition_datetimes):
                            raise _missing("AcquisitionDate/AcquisitionTime (0008,0022/0032)", src,
                                           "DecayCorrection NONE needs each slice's acquisition time")
                        refs = list(tags.acquisition_datetimes)
                        notes.append("DecayCorrection NONE: per-slice decay to each AcquisitionTime")
                    ref = min(refs)
                base_date = base_date or ref.date()
                if injection_datetime is not None:
                    inj = _parse_user_datetime(injection_datetime, base_date, "injection_datetime")
                    time_only = False
                elif tags.injection_datetime is not None:
                    inj, time_only = tags.injection_datetime, False
                elif tags.injection_time is not None:
                    inj, time_only = dt.datetime.combine(base_date, tags.injection_time), True
                else:
                    raise _missing("RadiopharmaceuticalStartDateTime/StartTime (0018,1078/1072)", src,
                                   "supply the injection time (injection_datetime=, CLI --injection-time)")
                delta = (ref - inj).total_seconds()
                if delta < 0 and time_only and delta + 86400.0 <= max_uptake_h * 3600.0:
                    inj = inj - dt.timedelta(days=1)
                    notes.append("injection time after scan time on the same date: midnight crossing assumed "
                                 "(injection on the previous day)")
                    delta = (ref - inj).total_seconds()
                if delta < 0:
                    raise InputError(
                        f"PET series {src or '(unnamed)'}: injection {inj.isoformat()} is after the acquisition "
                        f"start {ref.isoformat()} ({-delta:.0f} s later); check RadiopharmaceuticalStartTime / "
                        "SeriesTime or supply injection_datetime= (CLI --injection-time)")
                deltas = np.array([(r - inj).total_seconds() for r in refs])
                decayed = float(dose) * np.exp(-LN2 * deltas / float(half))
                uptake, inj_used, ref_used = float(delta), inj, ref
            else:
                raise InputError(f"PET series {src}: DecayCorrection {decay!r} is not supported (START, ADMIN, NONE)")
            bw = to_bqml * (w * 1000.0) / decayed
    else:
        raise InputError(f"PET series {src or '(unnamed)'}: Units {units!r} cannot be converted to SUV; "
                         "supported: BQML, CNTS (Philips), GML")

    lbm = bsa = None
    if suv_type == SuvType.BW:
        factor = bw
    else:
        w = need_weight()
        if height is None or height <= 0:
            raise _missing("PatientSize (0010,1020)", src, "supply the height in m (height_m=, CLI --height-m)")
        if suv_type == SuvType.LBM:
            if not sex_v or sex_v.strip().upper()[:1] not in ("M", "F"):
                raise _missing("PatientSex (0010,0040)", src, "lean body mass needs sex='M' or 'F' (CLI --sex)")
            f = lbm_james_kg if lbm_formula == LbmFormula.JAMES else lbm_janmahasatian_kg
            lbm = f(w, float(height), sex_v)
            if lbm <= 0:
                raise InputError(f"lean body mass from the {lbm_formula.value} formula is {lbm:.1f} kg for "
                                 f"{w} kg, {height} m (James' formula fails for high BMI); use 'janmahasatian'")
            factor = bw * lbm / w
        else:
            bsa = bsa_dubois_m2(w, float(height))
            factor = bw * (bsa * 1e4) / (w * 1000.0)
    return SuvConversion(
        suv_type=suv_type, factor_per_slice=np.asarray(factor, float), units=SUV_UNITS[suv_type],
        input_units=units, decay_correction=decay,
        injected_dose_bq=None if dose is None else float(dose),
        decayed_dose_bq=None if decayed is None else float(np.min(decayed)),
        uptake_time_s=uptake, half_life_s=None if half is None else float(half),
        weight_kg=None if weight is None else float(weight), height_m=None if height is None else float(height),
        sex=sex_v, lbm_kg=lbm, lbm_formula=lbm_formula.value if suv_type == SuvType.LBM else None, bsa_m2=bsa,
        injection_datetime=inj_used, reference_datetime=ref_used, notes=tuple(notes),
    )


def with_overrides(tags: PetTags, **changes: Any) -> PetTags:
    """A copy of ``tags`` with some fields replaced (e.g. a corrected weight)."""
    return replace(tags, **changes)
