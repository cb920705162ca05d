"""Read a PET DICOM series with per-slice rescaling and the tags SUV conversion needs.

PET slices of one series often carry different RescaleSlope values (each slice is scaled to its own
maximum), so the pixel values are rescaled slice by slice here with pydicom, in float64.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DicomError, InputError
from ..image import Image
from .suv import PetTags, SuvConversion, pet_tags_from_headers, suv_conversion

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class PetSeries:
    """A PET volume in its stored units (Bq/ml, counts or SUV after rescale) plus its tags.

    Attributes
    ----------
    image : Image
        (Z, Y, X) values after each slice's RescaleSlope/Intercept (from :func:`medlabel.io.read_image`);
        ``meta`` holds the DICOM tags, ``files`` (paths in array order) and ``Units``.
    tags : PetTags
        Tags for :func:`medlabel.pet.suv.suv_conversion`.
    headers : list of pydicom.Dataset
        Per-slice headers in array order (without pixel data).
    """

    image: Image
    tags: PetTags
    headers: list[Any]

    def to_suv(self, **options: Any) -> tuple[Image, SuvConversion]:
        """SUV image and the conversion used; ``options`` go to :func:`suv_conversion`."""
        conv = suv_conversion(self.tags, **options)
        suv = self.image.with_array(conv.apply(self.image.array), Units=conv.units,
                                    SUVType=conv.suv_type.value)
        return suv, conv


def read_pet_series(path: str | Path, *, series_uid: str | None = None,
                    progress: Progress | None = None) -> PetSeries:
    """Read the PET series in ``path`` (a folder, searched recursively, or one file).

    Pixels and geometry come from :func:`medlabel.io.read_image` (each slice's RescaleSlope and
    RescaleIntercept applied); the SUV tags are read from every file's header with pydicom.

    Parameters
    ----------
    path : str or Path
        Folder with the series' DICOM files (non-image objects such as SEG/RTSTRUCT are skipped).
    series_uid : str, optional
        SeriesInstanceUID to pick when the folder holds several series.
    progress : callable(fraction, text), optional

    Returns
    -------
    PetSeries

    Raises
    ------
    ReadError, DicomError
        Unreadable input; InputError when the series is not PET (Modality PT).
    """
    import pydicom

    from ..io import MedLabelWarning, list_dicom_series, read_image

    if progress:
        progress(0.0, f"reading {path}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MedLabelWarning)
        image = read_image(path, series_uid=series_uid)
    files = image.meta.get("files") or []
    if not files:
        raise DicomError(f"{path} is not a DICOM series; SUV conversion needs the PET DICOM files (their tags)")
    if str(image.meta.get("Modality", "PT")) != "PT":
        pet_series = [s for s in list_dicom_series(path) if s["Modality"] == "PT"] if Path(path).is_dir() else []
        if series_uid is not None or not pet_series:
            raise InputError(f"{path}: Modality is {image.meta.get('Modality')!r}, not 'PT'; give the PET series")
        if len(pet_series) > 1:
            listing = ", ".join(f"{s['SeriesInstanceUID']} ({s['files']} files, {s['SeriesDescription']})"
                                for s in pet_series)
            raise InputError(f"{path} holds {len(pet_series)} PET series: {listing}; choose one with series_uid "
                             "(CLI --series)")
        return read_pet_series(path, series_uid=pet_series[0]["SeriesInstanceUID"], progress=progress)
    for w in caught:  # other warnings (gaps, uneven spacing) must still reach the user
        if not str(w.message).startswith(f"{path} holds"):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    headers = []
    for i, f in enumerate(files):
        headers.append(pydicom.dcmread(f, stop_before_pixels=True))
        if progress and i % 50 == 0:
            progress(0.5 + 0.5 * i / len(files), f"reading PET tags {i}/{len(files)}")
    tags = pet_tags_from_headers(headers, source=str(path))
    image = image.with_array(image.array, Units=tags.units)
    if progress:
        progress(1.0, f"read {len(files)} PET slices")
    return PetSeries(image=image, tags=tags, headers=headers)


def read_suv(path: str | Path, *, series_uid: str | None = None, progress: Progress | None = None,
             **options: Any) -> tuple[Image, SuvConversion]:
    """Read a PET DICOM series and convert it to SUV; ``options`` go to :func:`suv_conversion`."""
    unknown = set(options) - set(suv_conversion.__kwdefaults__ or {})
    if unknown:
        raise InputError(f"unknown SUV option(s) {sorted(unknown)}; known: {sorted(suv_conversion.__kwdefaults__)}")
    return read_pet_series(path, series_uid=series_uid, progress=progress).to_suv(**options)
