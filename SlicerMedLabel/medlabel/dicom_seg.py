"""DICOM Segmentation objects (SEG, DICOM PS3.3 A.51 / C.8.20) to and from a :class:`LabelSet`.

Reading uses pydicom directly: each frame's ImagePositionPatient (Plane Position Sequence) and
Referenced Segment Number (Segment Identification Sequence) place it on a grid — the referenced
image's grid when ``reference`` is given, otherwise a grid built from the frames' own positions.
Writing uses highdicom (``highdicom.seg.Segmentation``) on the source image files.

Segment metadata mapping (SEG attribute → LabelSet):

* SegmentLabel → ``Segment.name`` (made unique with the segment number when repeated);
* SegmentedPropertyCategory/Type(/Modifier) Code Sequences, AnatomicRegionSequence → ``Terminology``;
* RecommendedDisplayCIELabValue → ``Segment.color`` (RGB 0..1);
* SegmentAlgorithmType → tag ``MedLabel.Tool`` (manual, semi-automatic, automatic);
  SegmentAlgorithmName (+ version) → ``MedLabel.Model``; ContentCreatorName → ``MedLabel.Annotator``;
  SegmentNumber → ``DICOM.SegmentNumber``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import DicomError, GeometryError, InputError, ReadError
from .image import Image
from .labels import (
    TAG_ANNOTATOR,
    TAG_MODEL,
    TAG_SOURCE,
    TAG_TOOL,
    Code,
    Geometry,
    LabelSet,
    Segment,
    Terminology,
    Tool,
)

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
TAG_SEGMENT_NUMBER = "DICOM.SegmentNumber"

_ALGO_TO_TOOL = {"MANUAL": Tool.MANUAL, "SEMIAUTOMATIC": Tool.SEMI_AUTOMATIC, "AUTOMATIC": Tool.AUTOMATIC}
_TOOL_TO_ALGO = {v.value: k for k, v in _ALGO_TO_TOOL.items()}
_DEFAULT_TERM = Terminology(Code("SCT", "85756007", "Tissue"), Code("SCT", "85756007", "Tissue"))


def _code(seq) -> Code | None:
    if not seq:
        return None
    it = seq[0]
    return Code(str(it.get("CodingSchemeDesignator", "")), str(it.get("CodeValue", it.get("LongCodeValue", ""))),
                str(it.get("CodeMeaning", "")))


def _lab_to_rgb(value) -> tuple[float, float, float] | None:
    if value is None or len(value) != 3:
        return None
    import highdicom as hd

    r, g, b = hd.color.CIELabColor.from_dicom_value([int(v) for v in value]).to_rgb(clip=True)
    return (r / 255.0, g / 255.0, b / 255.0)


def _reference_geometry(reference: Image | Geometry | str | Path) -> Geometry:
    if isinstance(reference, Geometry):
        return reference
    if isinstance(reference, Image):
        return Geometry.of(reference)
    from .io import read_image

    return Geometry.of(read_image(reference))


def _frame_table(ds, path: Path):
    """Per frame: segment number, IPP (3,), plus shared IOP (6,) and pixel spacing (row, col)."""
    shared = ds.get("SharedFunctionalGroupsSequence")
    shared = shared[0] if shared else None
    per = ds.get("PerFrameFunctionalGroupsSequence")
    n = int(ds.get("NumberOfFrames", 1) or 1)
    if not per or len(per) != n:
        raise DicomError(f"{path}: PerFrameFunctionalGroupsSequence has {len(per) if per else 0} items for "
                         f"{n} frames; the SEG is malformed")

    def find(item, seq_name, attr):
        for src in (item, shared):
            if src is not None and seq_name in src and src[seq_name].value:
                v = src[seq_name][0].get(attr)
                if v is not None:
                    return v
        return None

    seg_no = np.empty(n, int)
    ipp = np.empty((n, 3))
    for i, item in enumerate(per):
        s = find(item, "SegmentIdentificationSequence", "ReferencedSegmentNumber")
        p = find(item, "PlanePositionSequence", "ImagePositionPatient")
        if s is None or p is None:
            raise DicomError(f"{path}: frame {i + 1} lacks ReferencedSegmentNumber or ImagePositionPatient")
        seg_no[i] = int(s)
        ipp[i] = [float(v) for v in p]
    iop = find(per[0], "PlaneOrientationSequence", "ImageOrientationPatient")
    px = find(per[0], "PixelMeasuresSequence", "PixelSpacing")
    if iop is None or px is None:
        raise DicomError(f"{path}: ImageOrientationPatient or PixelSpacing missing in the functional groups")
    sbs = find(per[0], "PixelMeasuresSequence", "SpacingBetweenSlices")
    return seg_no, ipp, np.asarray([float(v) for v in iop]), (float(px[0]), float(px[1])), sbs


def _grid_from_frames(ipp: np.ndarray, iop: np.ndarray, px: tuple[float, float], rows: int, cols: int,
                      sbs, path: Path) -> Geometry:
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    d = ipp @ normal
    uniq = np.unique(np.round(d, 3))
    if len(uniq) > 1:
        steps = np.diff(uniq)
        dz = float(sbs) if sbs else float(steps.min())
        k = (uniq - uniq[0]) / dz
        if np.max(np.abs(k - np.round(k))) > 0.05:
            raise GeometryError(f"{path}: frame positions are not on a regular slice lattice (step {dz:.4f} mm); "
                                "give the referenced image as reference=")
        nz = int(round(k[-1])) + 1
    else:
        dz = float(sbs) if sbs else 1.0
        nz = 1
    first = ipp[np.argmin(d)]
    inplane = ipp - first - np.outer(d - d.min(), normal)
    if np.max(np.abs(inplane)) > 0.01 * min(px):
        raise GeometryError(f"{path}: frames are shifted in-plane relative to each other; give reference=")
    direction = tuple(np.column_stack([row, col, normal]).ravel())
    return Geometry((nz, rows, cols), (abs(dz), px[0], px[1]), tuple(first), direction)


def read_dicom_seg(path: str | Path, *, reference: Image | Geometry | str | Path | None = None,
                   fractional_threshold: float = 0.5) -> LabelSet:
    """Read a DICOM SEG file into a :class:`LabelSet`.

    Parameters
    ----------
    path : str or Path
        The SEG file.
    reference : Image, Geometry or path, optional
        Grid to place the frames on (normally the referenced CT/PET series; a path is read with
        :func:`medlabel.io.read_image`). Without it, the grid is built from the frames' positions:
        it spans only the segmented slices (empty slices in between are filled in).
    fractional_threshold : float
        For FRACTIONAL SEGs: a voxel is inside when value / MaximumFractionalValue >= this.

    Returns
    -------
    LabelSet
        One segment per SEG segment (segments without frames are empty), boolean masks (Z, Y, X).

    Raises
    ------
    ReadError, DicomError
        Not a SEG, malformed functional groups.
    GeometryError
        Orientation or pixel spacing differs from ``reference``, or frames fall between its slices
        or outside it.
    """
    import pydicom

    path = Path(path)
    if not path.exists():
        raise ReadError(f"{path} does not exist")
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise ReadError(f"{path} is not a readable DICOM file ({type(exc).__name__}: {exc})") from exc
    if str(ds.get("SOPClassUID", "")) == "1.2.840.10008.5.1.4.1.1.481.3":
        raise DicomError(f"{path} is an RT Structure Set (contours), not a DICOM SEG; read it with "
                         "medlabel.rtstruct.read_rtstruct(path, reference=image)")
    if str(ds.get("SOPClassUID", "")) != SEG_SOP_CLASS:
        raise DicomError(f"{path} is not a DICOM SEG (SOPClassUID {ds.get('SOPClassUID', 'missing')}); "
                         "give a Segmentation Storage file")
    seg_type = str(ds.get("SegmentationType", "BINARY")).upper()
    if not 0 < fractional_threshold <= 1:
        raise InputError(f"fractional_threshold must be in (0, 1]; got {fractional_threshold}")
    try:
        frames = ds.pixel_array
    except Exception as exc:
        raise DicomError(f"{path}: cannot decode the SEG pixel data ({type(exc).__name__}: {exc})") from exc
    rows, cols = int(ds.Rows), int(ds.Columns)
    frames = np.asarray(frames).reshape(-1, rows, cols)
    if seg_type == "FRACTIONAL":
        maxv = float(ds.get("MaximumFractionalValue", 255) or 255)
        frames = frames.astype(np.float64) / maxv >= fractional_threshold
    else:
        frames = frames > 0
    seg_no, ipp, iop, px, sbs = _frame_table(ds, path)
    if reference is not None:
        geo = _reference_geometry(reference)
        direction = np.asarray(geo.direction).reshape(3, 3)
        if not (np.allclose(direction[:, 0], iop[:3], atol=1e-3) and np.allclose(direction[:, 1], iop[3:], atol=1e-3)):
            raise GeometryError(f"{path}: SEG orientation {iop.round(4).tolist()} differs from the reference image's "
                                f"{direction[:, :2].T.ravel().round(4).tolist()}; is it the referenced series?")
        if not np.allclose(px, geo.spacing_mm[1:], rtol=1e-3):
            raise GeometryError(f"{path}: SEG pixel spacing {px} mm differs from the reference image's "
                                f"{geo.spacing_mm[1:]} mm; is it the referenced series?")
    else:
        geo = _grid_from_frames(ipp, iop, px, rows, cols, sbs, path)
    img = geo.empty_image()
    kji = img.lps_to_index(ipp)
    rk = np.round(kji)
    if np.max(np.abs(kji - rk)) > 0.1:
        worst = int(np.argmax(np.max(np.abs(kji - rk), axis=1)))
        raise GeometryError(f"{path}: frame {worst + 1} at {ipp[worst].round(3).tolist()} mm lies between the "
                            f"reference image's voxels (index {kji[worst].round(2).tolist()}); wrong reference series?")
    rk = rk.astype(int)
    shape = np.asarray(geo.shape)
    outside = (rk[:, 0] < 0) | (rk[:, 0] >= shape[0]) | (np.abs(rk[:, 1]) >= shape[1]) | (np.abs(rk[:, 2]) >= shape[2])
    if outside.any():
        i = int(np.nonzero(outside)[0][0])
        raise GeometryError(f"{path}: frame {i + 1} at {ipp[i].round(3).tolist()} mm is outside the reference "
                            f"image (index {rk[i].tolist()}, shape {tuple(geo.shape)}); wrong reference series?")
    masks: dict[int, np.ndarray] = {}
    for f in range(len(frames)):
        m = masks.get(int(seg_no[f]))
        if m is None:
            m = masks[int(seg_no[f])] = np.zeros(geo.shape, bool)
        k, j0, i0 = rk[f]
        ys, xs = slice(max(j0, 0), min(j0 + rows, shape[1])), slice(max(i0, 0), min(i0 + cols, shape[2]))
        fr = frames[f][ys.start - j0: ys.stop - j0, xs.start - i0: xs.stop - i0]
        m[k, ys, xs] |= fr
    creator = str(ds.get("ContentCreatorName", "") or "")
    ls = LabelSet(geo, meta={"source": str(path), "SeriesInstanceUID": str(ds.get("SeriesInstanceUID", "")),
                             "SOPInstanceUID": str(ds.get("SOPInstanceUID", "")),
                             "FrameOfReferenceUID": str(ds.get("FrameOfReferenceUID", "")),
                             "ReferencedSeriesInstanceUID": _referenced_series(ds)})
    for item in ds.get("SegmentSequence", []):
        number = int(item.SegmentNumber)
        name = str(item.get("SegmentLabel", "") or f"Segment_{number}")
        if name in ls:
            name = f"{name} ({number})"
        cat, typ = _code(item.get("SegmentedPropertyCategoryCodeSequence")), _code(item.get("SegmentedPropertyTypeCodeSequence"))
        term = None
        if cat and typ:
            mod = _code(typ_seq[0].get("SegmentedPropertyTypeModifierCodeSequence")) if (
                typ_seq := item.get("SegmentedPropertyTypeCodeSequence")) else None
            term = Terminology(cat, typ, mod, anatomic_region=_code(item.get("AnatomicRegionSequence")))
        tags = {TAG_SEGMENT_NUMBER: str(number), TAG_SOURCE: f"DICOM SEG {path.name}"}
        algo = str(item.get("SegmentAlgorithmType", "") or "").upper()
        if algo in _ALGO_TO_TOOL:
            tags[TAG_TOOL] = _ALGO_TO_TOOL[algo].value
        if algo in ("AUTOMATIC", "SEMIAUTOMATIC") and item.get("SegmentAlgorithmName"):
            tags[TAG_MODEL] = str(item.SegmentAlgorithmName).replace("|", "/")
        if creator:
            tags[TAG_ANNOTATOR] = creator.replace("|", "/")
        color = _lab_to_rgb(item.get("RecommendedDisplayCIELabValue")) or (0.5, 0.5, 0.5)
        mask = masks.pop(number, np.zeros(geo.shape, bool))
        ls.add(Segment(name, mask, color, term, tags))
    if masks:
        raise DicomError(f"{path}: frames reference segment number(s) {sorted(masks)} that SegmentSequence lacks")
    return ls


def _referenced_series(ds) -> str:
    seq = ds.get("ReferencedSeriesSequence")
    return str(seq[0].get("SeriesInstanceUID", "")) if seq else ""


def _hd_code(code: Code):
    from pydicom.sr.coding import Code as PdCode

    return PdCode(code.value, code.scheme, code.meaning)


def write_dicom_seg(
    labelset: LabelSet,
    source_dicom_files: Sequence[str | Path],
    path: str | Path,
    *,
    force: bool = False,
    series_description: str = "MedLabel segmentation",
    series_number: int = 300,
    content_creator: str | None = None,
    algorithm_version: str | None = None,
    manufacturer: str = "SlicerMedLabel",
    include_empty: bool = False,
) -> Path:
    """Write ``labelset`` as a BINARY DICOM SEG referencing ``source_dicom_files`` (highdicom).

    Parameters
    ----------
    labelset : LabelSet
        Masks on the grid of the source series (checked).
    source_dicom_files : sequence of path
        The single-frame image files the masks were drawn on (any order; sorted along the normal).
    path : str or Path
        Output ``.dcm`` file; written atomically, never overwritten without ``force``.
    series_description, series_number, manufacturer : SEG header values.
    content_creator : str, optional
        ContentCreatorName; default: the segments' common ``MedLabel.Annotator`` tag, if any.
    algorithm_version : str, optional
        Version in the algorithm identification of non-manual segments (default: medlabel's version).
    include_empty : bool
        Keep segments that have no voxels (they are written without frames); default drops them.

    Returns
    -------
    Path of the written file.

    Notes
    -----
    Per segment: label = name; category/type/modifier/anatomic region from ``terminology`` (segments
    without one get SCT 85756007 "Tissue"); algorithm type from tag ``MedLabel.Tool`` (manual when
    absent); algorithm name from tag ``MedLabel.Model`` (else "SlicerMedLabel"); colour as CIELab.
    """
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    from . import __version__
    from .io import atomic_write, check_writable

    path = Path(path)
    check_writable(path, force)
    if len(labelset) == 0:
        raise InputError("the label set has no segments; nothing to write as DICOM SEG")
    files = [Path(f) for f in source_dicom_files]
    if not files:
        raise InputError("source_dicom_files is empty; give the image files the segmentation was drawn on")
    sources = []
    for f in files:
        try:
            ds = pydicom.dcmread(f)
        except Exception as exc:
            raise ReadError(f"source image {f} cannot be read ({type(exc).__name__}: {exc})") from exc
        if "SpecificCharacterSet" in ds and not ds.SpecificCharacterSet:
            del ds.SpecificCharacterSet  # empty value (seen in old CTs) means the default repertoire
        sources.append(ds)
    iop = np.asarray([float(v) for v in sources[0].ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    sources.sort(key=lambda d: float(np.asarray([float(v) for v in d.ImagePositionPatient]) @ normal))
    ipp = np.asarray([[float(v) for v in d.ImagePositionPatient] for d in sources])
    geo = labelset.geometry
    img = geo.empty_image()
    kji = img.lps_to_index(ipp)
    expected = np.c_[np.arange(geo.shape[0]), np.zeros(geo.shape[0]), np.zeros(geo.shape[0])]
    if len(sources) != geo.shape[0] or not np.allclose(kji, expected, atol=0.05) or \
            (int(sources[0].Rows), int(sources[0].Columns)) != tuple(geo.shape[1:]):
        raise GeometryError(
            f"the label set grid {tuple(geo.shape)} (origin {tuple(round(o, 2) for o in geo.origin_lps)}) is not the "
            f"grid of the {len(sources)} source files ({sources[0].Rows}x{sources[0].Columns}, first at "
            f"{ipp[0].round(2).tolist()}); resample the segments onto the source series first")
    segs = [s for s in labelset if include_empty or s.mask.any()]
    if not segs:
        raise InputError("every segment is empty; nothing to write (pass include_empty=True to write them anyway)")
    descriptions = []
    pixel = np.zeros((len(sources), *geo.shape[1:], len(segs)), np.uint8)
    annotators = {s.tags.get(TAG_ANNOTATOR) for s in segs}
    for n, s in enumerate(segs, start=1):
        term = s.terminology or _DEFAULT_TERM
        tool = s.tags.get(TAG_TOOL, Tool.MANUAL.value)
        algo = _TOOL_TO_ALGO.get(tool, "MANUAL")
        ident = None
        if algo != "MANUAL":
            ident = hd.AlgorithmIdentificationSequence(
                name=s.tags.get(TAG_MODEL, "SlicerMedLabel"), version=algorithm_version or __version__,
                family=codes.cid7162.ArtificialIntelligence)
        r, g, b = (int(round(255 * c)) for c in s.color)
        desc = hd.seg.SegmentDescription(
            segment_number=n, segment_label=s.name,
            segmented_property_category=_hd_code(term.category),
            segmented_property_type=_hd_code(term.type),
            algorithm_type=algo, algorithm_identification=ident,
            anatomic_regions=[_hd_code(term.anatomic_region)] if term.anatomic_region else None,
            display_color=hd.color.CIELabColor.from_rgb(r, g, b),
        )
        if term.modifier is not None:
            desc.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
                hd.sr.CodedConcept(term.modifier.value, term.modifier.scheme, term.modifier.meaning)]
        descriptions.append(desc)
        pixel[..., n - 1] = s.mask
    creator = content_creator or (annotators.pop() if len(annotators) == 1 and None not in annotators else None)
    with warnings.catch_warnings():  # highdicom warns about single-component person names of the source
        warnings.simplefilter("ignore", UserWarning)
        seg = hd.seg.Segmentation(
            source_images=sources, pixel_array=pixel, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=int(series_number),
            sop_instance_uid=hd.UID(), instance_number=1, manufacturer=manufacturer,
            manufacturer_model_name="medlabel", software_versions=__version__, device_serial_number="0",
            series_description=series_description, content_creator_name=creator,
            omit_empty_frames=True,
        )
    with atomic_write(path, force) as tmp:
        seg.save_as(tmp)
    return path

