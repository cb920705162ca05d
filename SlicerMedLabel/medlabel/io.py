"""Reading and writing images, segmentations and tables.

The only engine module that touches files. Conventions:

* Arrays come back in (z, y, x) order; geometry is LPS (see :mod:`medlabel.image`).
* DICOM series are sorted along the slice normal; CT values are rescaled to HU
  (``RescaleSlope``/``RescaleIntercept`` per slice); the tags a study needs
  (sex, age, height in m, weight in kg, PET radiopharmaceutical tags) go to ``Image.meta``.
* Every write is atomic (temporary file + rename) and refuses to replace an existing
  file unless ``force=True``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DicomError, GeometryError, InputError, OutputExistsError, ReadError
from .image import Image
from .labels import Geometry, LabelSet, Segment, Terminology

log = logging.getLogger(__name__)


class MedLabelWarning(UserWarning):
    """A problem that does not stop the work (slice gap, several series, implausible tag)."""


def _warn(image_meta: dict | None, text: str) -> None:
    warnings.warn(text, MedLabelWarning, stacklevel=3)
    log.warning(text)
    if image_meta is not None:
        image_meta.setdefault("warnings", []).append(text)


# --------------------------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    Raises :class:`OutputExistsError` before anything is written when ``path`` exists and
    ``force`` is False. On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} exists; nothing was overwritten. Pass force=True (CLI: --force) to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes) or ".tmp"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name.split('.')[0]}-", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates the file owner-only (0600); give the result the permissions of a normally
        # created file (0666 minus the umask) so colleagues sharing a study folder can read it
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def check_writable(path: str | os.PathLike, force: bool) -> Path:
    """Raise :class:`OutputExistsError` when ``path`` exists and not ``force``; return it as Path."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} exists; nothing was overwritten. Pass force=True (CLI: --force) to replace it.")
    return path


# --------------------------------------------------------------------------------------------
# DICOM
# --------------------------------------------------------------------------------------------
#: SOP classes that carry no image volume (SEG, RTSTRUCT, SR, presentation states, ...)
_NON_IMAGE_SOP = {
    "1.2.840.10008.5.1.4.1.1.66.4": "Segmentation Storage (DICOM SEG)",
    "1.2.840.10008.5.1.4.1.1.481.3": "RT Structure Set",
    "1.2.840.10008.5.1.4.1.1.88.11": "Basic Text SR",
    "1.2.840.10008.5.1.4.1.1.88.22": "Enhanced SR",
    "1.2.840.10008.5.1.4.1.1.88.33": "Comprehensive SR",
    "1.2.840.10008.5.1.4.1.1.11.1": "Grayscale Softcopy Presentation State",
    "1.2.840.10008.5.1.4.1.1.66": "Raw Data",
}

PATIENT_TAGS = ("PatientID", "PatientName", "PatientSex", "PatientAge", "PatientBirthDate",
                "PatientSize", "PatientWeight")
STUDY_TAGS = ("StudyInstanceUID", "StudyDate", "StudyTime", "StudyDescription", "AccessionNumber",
              "SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "SeriesDate", "SeriesTime",
              "AcquisitionDate", "AcquisitionTime", "Modality", "Manufacturer", "ManufacturerModelName",
              "BodyPartExamined", "SliceThickness", "KVP", "ConvolutionKernel", "ContrastBolusAgent")
PET_TAGS = ("Units", "DecayCorrection", "CorrectedImage", "DecayFactor", "CountsSource")
RADIOPHARM_TAGS = ("Radiopharmaceutical", "RadiopharmaceuticalStartTime", "RadiopharmaceuticalStartDateTime",
                   "RadionuclideTotalDose", "RadionuclideHalfLife", "RadionuclidePositronFraction")


def is_dicom_file(p: Path) -> bool:
    """True when ``p`` has the DICM preamble or a .dcm/.ima suffix."""
    try:
        with open(p, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) >= 132 and head[128:132] == b"DICM" or p.suffix.lower() in (".dcm", ".ima")


def _value(ds, name: str) -> Any:
    """Tag value as a plain Python value (float for DS, int for IS, str for names and text)."""
    from pydicom.multival import MultiValue
    from pydicom.valuerep import IS, DSdecimal, DSfloat, PersonName

    v = ds.get(name, None)
    if v is None or v == "":
        return None
    if isinstance(v, PersonName):
        return str(v)
    if isinstance(v, (DSfloat, DSdecimal)):
        return float(v)
    if isinstance(v, IS):
        return int(v)
    if isinstance(v, (list, tuple, MultiValue)):
        return [float(x) if isinstance(x, (DSfloat, DSdecimal)) else x for x in v]
    if isinstance(v, bytes):
        return None
    return v if isinstance(v, (int, float)) else str(v)


def dicom_tags(ds) -> dict[str, Any]:
    """The patient, study, series and PET tags of one pydicom dataset as plain Python values.

    ``PatientSize`` is in metres and ``PatientWeight`` in kg as the DICOM standard defines them;
    checking plausibility is :func:`patient_height_weight`'s job. PET radiopharmaceutical tags are
    taken from the first item of RadiopharmaceuticalInformationSequence; Philips' private SUV scale
    factor (7053,1000) is reported as ``PhilipsSUVScaleFactor`` when present.
    """
    out: dict[str, Any] = {}
    for name in PATIENT_TAGS + STUDY_TAGS + PET_TAGS:
        v = _value(ds, name)
        if v is not None:
            out[name] = v
    seq = ds.get("RadiopharmaceuticalInformationSequence", None)
    if seq:
        for name in RADIOPHARM_TAGS:
            v = _value(seq[0], name)
            if v is not None:
                out[name] = v
    priv = ds.get((0x7053, 0x1000), None)
    if priv is not None:
        try:
            raw = priv.value
            out["PhilipsSUVScaleFactor"] = float(raw.decode() if isinstance(raw, bytes) else raw)
        except (TypeError, ValueError):
            pass
    return out


def _scan_dicom_folder(folder: Path) -> tuple[dict[str, list], list[str]]:
    """Group the image files of a folder (recursively) by SeriesInstanceUID; also list skipped files."""
    import pydicom

    series: dict[str, list] = defaultdict(list)
    skipped: list[str] = []
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for p in files:
        if p.name.startswith(".") or p.suffix.lower() in (".txt", ".json", ".md", ".csv", ".nii", ".gz", ".nrrd"):
            continue
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
        except Exception as exc:  # pydicom raises several types for non-DICOM/corrupt files
            skipped.append(f"{p.name}: not readable as DICOM ({type(exc).__name__})")
            continue
        sop = str(ds.get("SOPClassUID", ""))
        if sop in _NON_IMAGE_SOP:
            skipped.append(f"{p.name}: {_NON_IMAGE_SOP[sop]}, not an image")
            continue
        if "PixelData" not in ds and (0x7FE0, 0x0010) not in ds:
            # stop_before_pixels hides PixelData; check Rows as the image marker instead
            if ds.get("Rows", None) is None:
                skipped.append(f"{p.name}: no pixel data (SOP class {sop or 'unknown'})")
                continue
        uid = str(ds.get("SeriesInstanceUID", "unknown"))
        series[uid].append((p, ds))
    return series, skipped


def list_dicom_series(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """Summaries (uid, modality, description, number of files) of the image series in a folder."""
    folder = Path(folder)
    series, _ = _scan_dicom_folder(folder)
    out = []
    for uid, items in series.items():
        ds = items[0][1]
        out.append({"SeriesInstanceUID": uid, "Modality": str(ds.get("Modality", "")),
                    "SeriesDescription": str(ds.get("SeriesDescription", "")),
                    "SeriesNumber": _value(ds, "SeriesNumber"), "files": len(items)})
    return sorted(out, key=lambda d: -d["files"])


def read_dicom_series(folder: str | os.PathLike, series_uid: str | None = None) -> Image:
    """Read one DICOM image series from a folder into an :class:`Image` (values rescaled, CT in HU).

    Parameters
    ----------
    folder : path
        Folder searched recursively; non-image objects (SEG, RTSTRUCT, SR) are skipped.
    series_uid : str, optional
        Which series to read when there are several. By default the series with the most files is
        read and a :class:`MedLabelWarning` names the others.

    Returns
    -------
    Image
        (Z, Y, X) float32 array sorted along the slice normal; ``meta`` holds the tags of
        :func:`dicom_tags`, ``files`` (sorted paths), ``SliceLocationsMm``, ``warnings``.

    Notes
    -----
    Duplicated positions are dropped (the first file is kept) with a warning; missing slices or
    uneven spacing give a warning that names the gap, and the spacing used is the median step.
    """
    import pydicom

    folder = Path(folder)
    if not folder.exists():
        raise ReadError(f"{folder} does not exist")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; use read_image() for single files")
    series, skipped = _scan_dicom_folder(folder)
    meta: dict[str, Any] = {"source": str(folder)}
    if not series:
        detail = "; ".join(skipped[:5]) if skipped else "the folder holds no files"
        raise DicomError(f"no DICOM image series in {folder} ({detail})")
    if series_uid is not None:
        if series_uid not in series:
            raise DicomError(f"series {series_uid} not found in {folder}; series there: {', '.join(series)}")
        uid = series_uid
    else:
        uid = max(series, key=lambda u: len(series[u]))
        if len(series) > 1:
            others = ", ".join(f"{u} ({len(series[u])} files)" for u in series if u != uid)
            _warn(meta, f"{folder} holds {len(series)} image series; reading the largest, {uid} "
                        f"({len(series[uid])} files). Others: {others}. Pass series_uid to choose.")
    items = series[uid]
    first = items[0][1]
    rows, cols = int(first.Rows), int(first.Columns)
    if first.get("ImageOrientationPatient") is not None:
        iop = np.asarray([float(v) for v in first.ImageOrientationPatient])
    else:
        iop = np.array([1, 0, 0, 0, 1, 0], float)
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    pix = first.get("PixelSpacing", None)
    if pix is None:
        pix = first.get("ImagerPixelSpacing", [1.0, 1.0])
        _warn(meta, f"{uid}: PixelSpacing missing; using {list(pix)} mm")
    dy, dx = float(pix[0]), float(pix[1])

    # sort by position along the normal
    entries = []
    for p, ds in items:
        if int(ds.get("Rows", rows)) != rows or int(ds.get("Columns", cols)) != cols:
            raise DicomError(f"{p.name} is {ds.Rows}x{ds.Columns} but the series is {rows}x{cols}; "
                             "the series mixes image sizes")
        ipp = ds.get("ImagePositionPatient", None)
        pos = np.asarray([float(v) for v in ipp]) if ipp is not None else np.array([0, 0, float(ds.get("InstanceNumber", 0))])
        entries.append((float(pos @ normal), pos, p))
    entries.sort(key=lambda e: e[0])
    kept, dropped = [entries[0]], []
    for e in entries[1:]:
        if abs(e[0] - kept[-1][0]) < 1e-3:
            dropped.append(e[2].name)
        else:
            kept.append(e)
    if dropped:
        _warn(meta, f"{uid}: {len(dropped)} duplicated slice position(s) dropped: {', '.join(dropped[:5])}")
    locs = np.array([e[0] for e in kept])
    if len(kept) > 1:
        steps = np.diff(locs)
        dz = float(np.median(steps))
        uneven = np.abs(steps - dz) > max(0.01 * dz, 0.01)
        if uneven.any():
            where = [f"between {locs[i]:.2f} and {locs[i + 1]:.2f} mm (step {steps[i]:.2f} mm)"
                     for i in np.nonzero(uneven)[0][:5]]
            missing = int(np.round(steps[uneven] / dz - 1).clip(min=0).sum())
            _warn(meta, f"{uid}: uneven slice spacing (median {dz:.3f} mm): {'; '.join(where)}"
                        + (f"; about {missing} slice(s) missing" if missing else "")
                        + ". Measurements across the gap use the median spacing.")
    else:
        dz = float(first.get("SliceThickness", None) or 1.0)

    arr = np.empty((len(kept), rows, cols), np.float32)
    for k, (_, _, p) in enumerate(kept):
        try:
            ds = pydicom.dcmread(p)
            px = ds.pixel_array
        except Exception as exc:
            raise DicomError(f"cannot decode pixel data of {p} ({type(exc).__name__}: {exc}). For compressed "
                             "transfer syntaxes install pylibjpeg, pylibjpeg-openjpeg and pylibjpeg-libjpeg.") from exc
        if px.ndim != 2:
            raise DicomError(f"{p.name} holds a {px.ndim}-D pixel array (multi-frame or colour); "
                             "only single-frame grayscale series are read as volumes")
        slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
        inter = float(ds.get("RescaleIntercept", 0.0) or 0.0)
        arr[k] = px.astype(np.float32) * slope + inter
    direction = np.column_stack([row_dir, col_dir, normal])
    meta.update(dicom_tags(first))
    meta["files"] = [str(e[2]) for e in kept]
    meta["SliceLocationsMm"] = locs.tolist()
    if skipped:
        meta["skipped"] = skipped
    return Image(arr, (abs(dz), dy, dx), tuple(kept[0][1]), direction, meta)


# --------------------------------------------------------------------------------------------
# generic image I/O
# --------------------------------------------------------------------------------------------
_SITK_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in (".seg.nrrd", ".nii.gz"):
        if name.endswith(s):
            return s
    return path.suffix.lower()


def read_image(path: str | os.PathLike, series_uid: str | None = None) -> Image:
    """Read a DICOM folder, a single DICOM file, NIfTI (.nii/.nii.gz), NRRD, or MetaImage.

    Returns an :class:`Image` with (z, y, x) voxels and LPS geometry; DICOM tags are in ``meta``.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.exists():
        raise ReadError(f"{path} does not exist")
    if path.is_dir():
        return read_dicom_series(path, series_uid)
    suffix = _suffix(path)
    if suffix in _SITK_SUFFIXES or suffix == ".seg.nrrd":
        try:
            img = sitk.ReadImage(str(path))
        except RuntimeError as exc:
            raise ReadError(f"cannot read {path} as an image ({str(exc).strip().splitlines()[-1]})") from exc
        if img.GetNumberOfComponentsPerPixel() != 1:
            raise ReadError(f"{path} has {img.GetNumberOfComponentsPerPixel()} components per voxel; "
                            "a scalar volume is expected")
        return Image.from_sitk(img, {"source": str(path)})
    if is_dicom_file(path):
        import pydicom

        try:
            ds = pydicom.dcmread(path)
        except Exception as exc:
            raise DicomError(f"{path} is not a readable DICOM file ({type(exc).__name__}: {exc})") from exc
        sop = str(ds.get("SOPClassUID", ""))
        if sop in _NON_IMAGE_SOP:
            raise DicomError(f"{path} is a {_NON_IMAGE_SOP[sop]}, not an image; read it with "
                             "read_segmentation() or give the image folder")
        if "PixelData" not in ds:
            raise DicomError(f"{path} has no pixel data")
        with tempfile.TemporaryDirectory() as tmp:
            os.symlink(path.resolve(), Path(tmp) / path.name)
            img = read_dicom_series(Path(tmp))
        img.meta["source"] = str(path)
        img.meta["files"] = [str(path)]
        return img
    raise ReadError(f"{path}: unknown image format '{suffix}'; expected a DICOM folder or file, "
                    f"or one of {', '.join(_SITK_SUFFIXES)}")


def write_image(image: Image, path: str | os.PathLike, force: bool = False) -> Path:
    """Write an :class:`Image` to NIfTI / NRRD / MetaImage (by suffix), atomically."""
    import SimpleITK as sitk

    path = Path(path)
    suffix = _suffix(path)
    if suffix not in _SITK_SUFFIXES:
        raise InputError(f"{path}: write_image writes {', '.join(_SITK_SUFFIXES)}; got '{suffix}'")
    with atomic_write(path, force) as tmp:
        sitk.WriteImage(image.to_sitk(), str(tmp), True)
    return path


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------
def write_table(df, path: str | os.PathLike, force: bool = False, sheet_name: str = "results") -> Path:
    """Write a DataFrame as CSV (UTF-8, no index) or XLSX (by suffix), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise InputError(f"{path}: tables are written as .csv or .xlsx; got '{suffix}'")
    with atomic_write(path, force) as tmp:
        if suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_excel(tmp, index=False, sheet_name=sheet_name[:31], engine="openpyxl")
    return path


def read_table(path: str | os.PathLike):
    """Read a CSV or XLSX table into a DataFrame."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise ReadError(f"{path} does not exist")
    if path.suffix.lower() == ".xlsx":
        return pd.read_excel(path)
    return pd.read_csv(path)


# --------------------------------------------------------------------------------------------
# Slicer .seg.nrrd
# --------------------------------------------------------------------------------------------
TERMINOLOGY_TAG = "TerminologyEntry"


def _geometry_from_nrrd_header(header: dict, spatial_axes: list[int]) -> tuple[tuple, tuple, np.ndarray]:
    """(spacing_mm z,y,x ; origin_lps ; direction) from NRRD 'space directions' of the i, j, k axes."""
    space = str(header.get("space", "left-posterior-superior")).lower()
    dirs = np.asarray(header["space directions"], dtype=float)[spatial_axes]  # rows: i, j, k vectors
    origin = np.asarray(header.get("space origin", [0.0, 0.0, 0.0]), dtype=float)
    if space in ("right-anterior-superior", "ras"):
        flip = np.array([-1.0, -1.0, 1.0])
        dirs, origin = dirs * flip, origin * flip
    elif space not in ("left-posterior-superior", "lps"):
        raise ReadError(f"NRRD space '{space}' is not supported; expected left-posterior-superior or RAS")
    spacing_xyz = np.linalg.norm(dirs, axis=1)
    if np.any(spacing_xyz == 0):
        raise ReadError("NRRD 'space directions' has a zero-length axis")
    direction = (dirs / spacing_xyz[:, None]).T
    return tuple(spacing_xyz[::-1]), tuple(origin), direction


def _parse_tags(text: str) -> dict[str, str]:
    tags = {}
    for item in text.split("|"):
        if not item:
            continue
        key, _, value = item.partition(":")
        tags[key] = value
    return tags


def read_seg_nrrd(path: str | os.PathLike) -> LabelSet:
    """Read a Slicer ``.seg.nrrd`` (3-D single layer or 4-D multi-layer) into a :class:`LabelSet`.

    Segment names, colours, terminology (tag ``TerminologyEntry``) and all other tags are kept;
    the mask of each segment is ``layer == LabelValue`` of its layer.
    """
    import nrrd

    path = Path(path)
    if not path.exists():
        raise ReadError(f"{path} does not exist")
    try:
        data, header = nrrd.read(str(path), index_order="C")
    except Exception as exc:  # pynrrd raises NRRDError and others
        raise ReadError(f"cannot read {path} as NRRD ({type(exc).__name__}: {exc})") from exc
    if data.ndim == 3:
        data = data[..., np.newaxis]
        spatial = [0, 1, 2]
    elif data.ndim == 4:
        kinds = header.get("kinds", [])
        if kinds and kinds[0] not in ("list", "vector", "none"):
            raise ReadError(f"{path}: 4-D NRRD whose first axis kind is '{kinds[0]}' is not a segmentation")
        spatial = [1, 2, 3]
    else:
        raise ReadError(f"{path}: a segmentation must be 3-D or 4-D; got {data.ndim}-D")
    spacing, origin, direction = _geometry_from_nrrd_header(header, spatial)
    geometry = Geometry(tuple(int(s) for s in data.shape[:3]), spacing, origin, tuple(direction.ravel()))
    ls = LabelSet(geometry, meta={"source": str(path)})
    i = 0
    found = False
    while f"Segment{i}_ID" in header:
        found = True
        pre = f"Segment{i}_"
        layer = int(header.get(pre + "Layer", 0))
        value = int(header.get(pre + "LabelValue", 1))
        if layer >= data.shape[3]:
            raise ReadError(f"{path}: segment {i} is on layer {layer} but the file has {data.shape[3]} layer(s)")
        color = tuple(float(c) for c in str(header.get(pre + "Color", "0.5 0.5 0.5")).split())
        tags = _parse_tags(str(header.get(pre + "Tags", "")))
        term = Terminology.from_slicer(tags.pop(TERMINOLOGY_TAG)) if TERMINOLOGY_TAG in tags else None
        name = str(header.get(pre + "Name", header[pre + "ID"]))
        seg = Segment(name, data[..., layer] == value, color, term, tags, id=str(header[pre + "ID"]))
        if name in ls:
            seg.name = f"{name} ({seg.id})"
        ls.add(seg)
        i += 1
    if not found:
        # a plain labelmap saved with a .seg.nrrd name
        for v in np.unique(data[..., 0]):
            if v:
                ls.add_mask(f"Segment_{int(v)}", data[..., 0] == v)
    return ls


def _assign_layers(labelset: LabelSet) -> list[int]:
    """Greedy layer per segment so that no two segments in a layer overlap."""
    layers: list[np.ndarray] = []
    out = []
    for seg in labelset:
        for li, occ in enumerate(layers):
            if not (occ & seg.mask).any():
                occ |= seg.mask
                out.append(li)
                break
        else:
            layers.append(seg.mask.copy())
            out.append(len(layers) - 1)
    return out


def write_seg_nrrd(labelset: LabelSet, path: str | os.PathLike, force: bool = False) -> Path:
    """Write a :class:`LabelSet` as a Slicer ``.seg.nrrd`` that Slicer opens with names, colours,
    terminology and tags. Overlapping segments go to separate layers (4-D file)."""
    import nrrd

    path = Path(path)
    if not path.name.lower().endswith(".seg.nrrd"):
        raise InputError(f"{path}: a Slicer segmentation file name must end with .seg.nrrd")
    if len(labelset) == 0:
        raise InputError(f"refusing to write {path}: the label set has no segments")
    g = labelset.geometry
    layer_of = _assign_layers(labelset)
    n_layers = max(layer_of) + 1
    values_in_layer: dict[int, int] = defaultdict(int)
    data = np.zeros((*g.shape, n_layers), np.uint8)
    header: dict[str, Any] = {}
    for i, (seg, layer) in enumerate(zip(labelset, layer_of, strict=True)):
        values_in_layer[layer] += 1
        value = values_in_layer[layer]
        if value > 255:
            raise InputError("more than 255 non-overlapping segments in one layer are not supported")
        data[..., layer][seg.mask] = value
        pre = f"Segment{i}_"
        tags = dict(seg.tags)
        if seg.terminology is not None:
            tags[TERMINOLOGY_TAG] = seg.terminology.to_slicer()
        header[pre + "Color"] = " ".join(f"{c:.6g}" for c in seg.color)
        header[pre + "ColorAutoGenerated"] = "0"
        header[pre + "Extent"] = " ".join(f"0 {s - 1}" for s in g.shape[::-1])
        header[pre + "ID"] = seg.id
        header[pre + "LabelValue"] = str(value)
        header[pre + "Layer"] = str(layer)
        header[pre + "Name"] = seg.name
        header[pre + "NameAutoGenerated"] = "0"
        header[pre + "Tags"] = "".join(f"{k}:{v}|" for k, v in tags.items())
    direction = np.asarray(g.direction, float).reshape(3, 3)
    dirs = (direction * np.asarray(g.spacing_mm[::-1])[None, :]).T  # rows = i, j, k vectors (LPS)
    header.update({
        "type": "unsigned char",
        "space": "left-posterior-superior",
        "space origin": np.asarray(g.origin_lps, float),
        "encoding": "gzip",
        "Segmentation_MasterRepresentation": "Binary labelmap",
        "Segmentation_ContainedRepresentationNames": "Binary labelmap|",
        "Segmentation_ReferenceImageExtentOffset": "0 0 0",
    })
    if n_layers == 1:
        out = data[..., 0]
        header["space directions"] = dirs
        header["kinds"] = ["domain", "domain", "domain"]
    else:
        out = np.moveaxis(data, 3, 0)  # C order (layer, z, y, x) -> NRRD axes x, y, z, layer? see below
        out = np.ascontiguousarray(np.moveaxis(data, 3, -1))
        header["space directions"] = np.vstack([np.full(3, np.nan), dirs])
        header["kinds"] = ["list", "domain", "domain", "domain"]
    custom = {k: "string" for k in header if k.startswith(("Segment", "Segmentation_"))}
    with atomic_write(path, force) as tmp:
        nrrd.write(str(tmp), out, header, index_order="C", custom_field_map=custom)
    return path


# --------------------------------------------------------------------------------------------
# labelmaps and any segmentation
# --------------------------------------------------------------------------------------------
def read_labelmap(path: str | os.PathLike, names: dict[int, str] | None = None,
                  reference: Image | None = None) -> LabelSet:
    """Read a label map (NIfTI/NRRD): one segment per non-zero value (``names`` maps value → name).

    When ``reference`` is given, the label map must be on its grid (:class:`GeometryError` otherwise).
    """
    img = read_image(path)
    if reference is not None:
        reference.check_same_geometry(img, what=f"label map {Path(path).name}")
    arr = img.array
    if not np.all(np.equal(np.mod(arr, 1), 0)):
        raise ReadError(f"{path} holds non-integer values; a label map must be integer")
    ls = LabelSet.from_labelmap(arr.astype(np.int64), img)
    if names:
        ls = LabelSet.from_labelmap(arr.astype(np.int64), img, names)
    ls.meta["source"] = str(path)
    return ls


def write_labelmap(labelset: LabelSet, path: str | os.PathLike, force: bool = False) -> Path:
    """Write a label map (segment i in order → value i) as NIfTI/NRRD; overlaps: later segment wins."""
    g = labelset.geometry
    img = Image(labelset.to_labelmap(), g.spacing_mm, g.origin_lps, np.asarray(g.direction).reshape(3, 3))
    return write_image(img, path, force)


def read_segmentation(path: str | os.PathLike, reference: Image | None = None) -> LabelSet:
    """Read any segmentation: ``.seg.nrrd``, label map NIfTI/NRRD, or DICOM SEG.

    With ``reference`` the result is checked against (label maps) or placed on (DICOM SEG) that grid.
    """
    path = Path(path)
    if not path.exists():
        raise ReadError(f"{path} does not exist")
    suffix = _suffix(path)
    if suffix == ".seg.nrrd":
        ls = read_seg_nrrd(path)
    elif suffix in _SITK_SUFFIXES:
        return read_labelmap(path, reference=reference)
    elif is_dicom_file(path):
        import pydicom

        from .dicom_seg import read_dicom_seg
        from .rtstruct import RTSTRUCT_SOP_CLASS, read_rtstruct

        try:
            sop = str(pydicom.dcmread(path, stop_before_pixels=True).get("SOPClassUID", ""))
        except Exception as exc:  # pydicom raises several types for non-DICOM/corrupt files
            raise ReadError(f"{path} is not a readable DICOM file ({type(exc).__name__}: {exc}); expected a "
                            "DICOM SEG or RT structure set") from exc
        if sop == RTSTRUCT_SOP_CLASS:
            if reference is None:
                raise InputError(f"{path} is an RT structure set: its contours need the image they were drawn "
                                 "on; pass reference=<that image> (CLI: --reference)")
            return read_rtstruct(path, reference=reference)
        return read_dicom_seg(path, reference=reference)
    else:
        raise ReadError(f"{path}: unknown segmentation format '{suffix}'; expected .seg.nrrd, "
                        ".nii/.nii.gz/.nrrd label map, or DICOM SEG")
    if reference is not None and not ls.geometry.matches(Geometry.of(reference)):
        raise GeometryError(
            f"segmentation {path.name} grid {tuple(ls.geometry.shape)} spacing {ls.geometry.spacing_mm} "
            f"origin {ls.geometry.origin_lps} does not match the image grid {reference.shape} spacing "
            f"{reference.spacing_mm} origin {reference.origin_lps}; resample it onto the image first")
    return ls
