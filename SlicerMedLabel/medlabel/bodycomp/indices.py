"""Patient sex, height, weight (with their source) and the skeletal-muscle indices at L3.

Definitions (see ``docs/reference-values.md``; Mourtzakis et al., Appl Physiol Nutr Metab
2008;33:997-1006 for SMI; Lee et al. 2022 for SMA/weight and SMA/BMI):

* SMA  = skeletal muscle area on the L3 slice (cm²)
* SMI  = SMA / height² (cm²/m²)
* SMA/Wt = SMA / weight (cm²/kg)
* BMI  = weight / height² (kg/m²); SMA/BMI = SMA / BMI (cm² per kg/m²)

Height and weight come from the user when given, else from the DICOM tags PatientSize (metres by
the standard) and PatientWeight (kg) when plausible. A PatientSize between 100 and 250 is read as
centimetres (a common scanner-console error) and converted, with a note; implausible values are
dropped with a note. The source of every value is recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import InputError

HEIGHT_RANGE_M = (1.0, 2.5)
WEIGHT_RANGE_KG = (20.0, 350.0)

#: index keys (also the column names in reports and reference sets) with their units
INDEX_UNITS: dict[str, str] = {
    "sma_cm2": "cm²",
    "smi_cm2_m2": "cm²/m²",
    "sma_wt_cm2_kg": "cm²/kg",
    "sma_bmi": "cm²/(kg/m²)",
    "muscle_hu": "HU",
}


def normalize_sex(value) -> str | None:
    """'M', 'F' or None from DICOM PatientSex or user text ('male', 'f', 'W', 'O', '')."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("m", "male", "man", "men"):
        return "M"
    if text in ("f", "female", "w", "woman", "women"):
        return "F"
    if text in ("", "o", "other", "u", "unknown", "none", "nan"):
        return None
    raise InputError(f"sex {value!r} not understood; use M or F (or leave it empty)")


_LB_KG = 0.45359237  # exact, by definition of the international pound


def _value_and_unit(text, what: str) -> tuple[float, str]:
    raw = str(text).strip().lower().replace(",", ".")
    num = raw.rstrip("abcdefghijklmnopqrstuvwxyz ").strip()
    unit = raw[len(num):].strip()
    try:
        value = float(num)
    except ValueError:
        raise InputError(f"{what} {text!r} is not a number with an optional unit (e.g. 1.72, 172cm, 70kg)") from None
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{what} {text!r} must be a positive number")
    return value, unit


def parse_height_m(text) -> float:
    """Height in metres from user text: ``1.72``, ``1.72 m``, ``172 cm``, ``172cm``.

    A bare number is metres. A bare number between 100 and 250 is refused with a hint (it looks
    like centimetres; write ``172cm`` or ``1.72``) rather than guessed, and any result outside
    1.0-2.5 m is refused.

    Raises
    ------
    InputError
        Unreadable text, an unknown unit, a bare centimetre-looking number or an implausible height.

    Examples
    --------
    >>> parse_height_m("172 cm"), parse_height_m("1.72")
    (1.72, 1.72)
    """
    value, unit = _value_and_unit(text, "height")
    if unit in ("", "m"):
        if not unit and 100.0 <= value <= 250.0:
            raise InputError(f"height {text!r} looks like centimetres; write {value:g}cm or {value / 100:g} (metres)")
        metres = value
    elif unit == "cm":
        metres = value / 100.0
    else:
        raise InputError(f"height {text!r}: unit {unit!r} not understood; use m or cm (e.g. 1.72 or 172cm)")
    if not HEIGHT_RANGE_M[0] <= metres <= HEIGHT_RANGE_M[1]:
        raise InputError(f"height {text!r} is {metres:g} m, outside {HEIGHT_RANGE_M[0]}-{HEIGHT_RANGE_M[1]} m")
    return metres


def parse_weight_kg(text) -> float:
    """Weight in kg from user text: ``70``, ``70 kg``, ``154 lb`` (1 lb = 0.45359237 kg); 20-350 kg only.

    Raises
    ------
    InputError
        Unreadable text, an unknown unit or an implausible weight.
    """
    value, unit = _value_and_unit(text, "weight")
    if unit in ("", "kg"):
        kg = value
    elif unit in ("lb", "lbs"):
        kg = value * _LB_KG
    else:
        raise InputError(f"weight {text!r}: unit {unit!r} not understood; use kg or lb (e.g. 70 or 154lb)")
    if not WEIGHT_RANGE_KG[0] <= kg <= WEIGHT_RANGE_KG[1]:
        raise InputError(f"weight {text!r} is {kg:.1f} kg, outside {WEIGHT_RANGE_KG[0]:g}-{WEIGHT_RANGE_KG[1]:g} kg")
    return kg


def _number(value) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


@dataclass
class Anthropometrics:
    """Sex, height and weight of one patient with the source of each value.

    Attributes
    ----------
    sex : 'M', 'F' or None
    height_m, weight_kg : float or None
    sex_source, height_source, weight_source : str
        'user', 'dicom', 'dicom (cm converted to m)' or 'missing'.
    notes : list of str
        Why a DICOM value was converted or ignored.
    """

    sex: str | None = None
    height_m: float | None = None
    weight_kg: float | None = None
    sex_source: str = "missing"
    height_source: str = "missing"
    weight_source: str = "missing"
    notes: list[str] = field(default_factory=list)

    @property
    def bmi_kg_m2(self) -> float | None:
        if self.height_m and self.weight_kg:
            return self.weight_kg / self.height_m ** 2
        return None


def patient_height_weight(meta: dict | None = None, *, sex=None, height_m: float | None = None,
                          weight_kg: float | None = None) -> Anthropometrics:
    """Combine user input and DICOM tags into :class:`Anthropometrics`.

    Parameters
    ----------
    meta : dict, optional
        Image metadata with DICOM-style keys ``PatientSex``, ``PatientSize`` (m), ``PatientWeight`` (kg).
    sex, height_m, weight_kg : optional
        User values; they win over DICOM. A user height above 3 is rejected (give metres).

    Returns
    -------
    Anthropometrics

    Raises
    ------
    InputError
        When a user value is implausible (height outside 1.0-2.5 m, weight outside 20-350 kg).

    Examples
    --------
    >>> a = patient_height_weight({"PatientSize": 175, "PatientWeight": 70, "PatientSex": "M"})
    >>> round(a.height_m, 2), a.height_source
    (1.75, 'dicom (cm converted to m)')
    """
    meta = meta or {}
    out = Anthropometrics()
    if sex is not None and str(sex).strip():
        out.sex, out.sex_source = normalize_sex(sex), "user"
    else:
        try:
            out.sex = normalize_sex(meta.get("PatientSex"))
        except InputError:
            out.notes.append(f"PatientSex {meta.get('PatientSex')!r} not understood; ignored")
        out.sex_source = "dicom" if out.sex else "missing"

    h_user = _number(height_m)
    if height_m is not None and h_user is None:
        raise InputError(f"height_m={height_m!r} is not a positive number (metres)")
    if h_user is not None:
        if not HEIGHT_RANGE_M[0] <= h_user <= HEIGHT_RANGE_M[1]:
            hint = f" ({h_user:g} looks like centimetres: {h_user / 100:g} m)" if 100 <= h_user <= 250 else ""
            raise InputError(f"height {h_user:g} m is outside {HEIGHT_RANGE_M[0]}-{HEIGHT_RANGE_M[1]} m{hint}; "
                             "give the height in metres (e.g. 1.72)")
        out.height_m, out.height_source = h_user, "user"
    else:
        h = _number(meta.get("PatientSize"))
        if h is None:
            if meta.get("PatientSize") not in (None, "", 0, 0.0):
                out.notes.append(f"PatientSize {meta.get('PatientSize')!r} is not a positive number; ignored")
        elif HEIGHT_RANGE_M[0] <= h <= HEIGHT_RANGE_M[1]:
            out.height_m, out.height_source = h, "dicom"
        elif 100.0 <= h <= 250.0:
            out.height_m, out.height_source = h / 100.0, "dicom (cm converted to m)"
            out.notes.append(f"PatientSize {h:g} looks like centimetres; used {h / 100.0:.2f} m")
        else:
            out.notes.append(f"PatientSize {h:g} m is implausible; ignored (enter the height by hand)")

    w_user = _number(weight_kg)
    if weight_kg is not None and w_user is None:
        raise InputError(f"weight_kg={weight_kg!r} is not a positive number (kg)")
    if w_user is not None:
        if not WEIGHT_RANGE_KG[0] <= w_user <= WEIGHT_RANGE_KG[1]:
            raise InputError(f"weight {w_user} kg is outside {WEIGHT_RANGE_KG[0]:g}-{WEIGHT_RANGE_KG[1]:g} kg")
        out.weight_kg, out.weight_source = w_user, "user"
    else:
        w = _number(meta.get("PatientWeight"))
        if w is not None and WEIGHT_RANGE_KG[0] <= w <= WEIGHT_RANGE_KG[1]:
            out.weight_kg, out.weight_source = w, "dicom"
        elif w is not None:
            out.notes.append(f"PatientWeight {w:g} kg is implausible; ignored (enter the weight by hand)")
    return out


def muscle_indices(sma_cm2: float, anthro: Anthropometrics) -> dict[str, float]:
    """SMA, SMI, SMA/Wt, SMA/BMI and BMI; NaN where height or weight is missing.

    Parameters
    ----------
    sma_cm2 : float
        Skeletal muscle area at L3 in cm² (mean over the slab when several slices were used).
    anthro : Anthropometrics

    Returns
    -------
    dict
        Keys ``sma_cm2, smi_cm2_m2, sma_wt_cm2_kg, sma_bmi, bmi_kg_m2``.

    Examples
    --------
    >>> a = Anthropometrics(height_m=2.0, weight_kg=80.0)
    >>> muscle_indices(160.0, a)["smi_cm2_m2"]
    40.0
    """
    nan = float("nan")
    h, w, bmi = anthro.height_m, anthro.weight_kg, anthro.bmi_kg_m2
    return {
        "sma_cm2": float(sma_cm2),
        "smi_cm2_m2": sma_cm2 / h ** 2 if h else nan,
        "sma_wt_cm2_kg": sma_cm2 / w if w else nan,
        "sma_bmi": sma_cm2 / bmi if bmi else nan,
        "bmi_kg_m2": bmi if bmi else nan,
    }
