"""Read DICOM RT Structure Sets (RTSTRUCT, DICOM PS3.3 A.19 / C.8.8.6) onto an image grid.

Each ROI's CLOSED_PLANAR contours are rasterised slice by slice on the reference image grid: a voxel
is inside when its centre lies inside the polygon (``skimage.draw.polygon``). Several contours on one
slice are combined with exclusive-or, so an inner contour cuts a hole (the even-odd rule that most
planning systems follow). POINT and OPEN contours carry no area and are skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DicomError, GeometryError, ReadError
from .image import Image
from .labels import TAG_SOURCE, TAG_TOOL, Geometry, LabelSet, Segment, Tool

RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"

_GEN_TO_TOOL = {"MANUAL": Tool.MANUAL, "SEMIAUTOMATIC": Tool.SEMI_AUTOMATIC, "AUTOMATIC": Tool.AUTOMATIC}


def read_rtstruct(path: str | Path, *, reference: Image | Geometry | str | Path,
                  names: list[str] | None = None, slice_tolerance: float = 0.25) -> LabelSet:
    """Rasterise the ROIs of an RT Structure Set on the grid of ``reference``.

    Parameters
    ----------
    path : str or Path
        The RTSTRUCT file.
    reference : Image, Geometry or path
        The image the contours were drawn on (a path is read with :func:`medlabel.io.read_image`).
    names : list of str, optional
        ROI names to read (default all that have contours).
    slice_tolerance : float
        Largest distance of a contour plane from a slice centre, in slices (default 0.25).

    Returns
    -------
    LabelSet
        One segment per ROI (name = ROIName, colour = ROIDisplayColor, tag MedLabel.Tool from
        ROIGenerationAlgorithm), boolean (Z, Y, X) masks on the reference grid.

    Raises
    ------
    DicomError
        Not an RTSTRUCT; unknown ROI names.
    GeometryError
        Contours lie between slices or outside the reference image, or are not in its axial planes.
    """
    import pydicom
    from skimage.draw import polygon

    path = Path(path)
    if not path.exists():
        raise ReadError(f"{path} does not exist")
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise ReadError(f"{path} is not a readable DICOM file ({type(exc).__name__}: {exc})") from exc
    if str(ds.get("SOPClassUID", "")) != RTSTRUCT_SOP_CLASS:
        raise DicomError(f"{path} is not an RT Structure Set (SOPClassUID {ds.get('SOPClassUID', 'missing')})")
    if isinstance(reference, Image):
        geo = Geometry.of(reference)
    elif isinstance(reference, Geometry):
        geo = reference
    else:
        from .io import read_image

        geo = Geometry.of(read_image(reference))
    img = geo.empty_image()
    info = {int(r.ROINumber): r for r in ds.get("StructureSetROISequence", [])}
    contours = {int(r.ReferencedROINumber): r for r in ds.get("ROIContourSequence", [])}
    available = [str(info[n].get("ROIName", f"ROI_{n}")) for n in contours if n in info]
    if names is not None:
        missing = [n for n in names if n not in available]
        if missing:
            raise DicomError(f"{path}: ROI(s) {missing} not found; ROIs with contours: {', '.join(available)}")
    ls = LabelSet(geo, meta={"source": str(path), "SOPInstanceUID": str(ds.get("SOPInstanceUID", ""))})
    shape = np.asarray(geo.shape)
    for number, roi in contours.items():
        meta = info.get(number)
        name = str(meta.get("ROIName", "") if meta is not None else "") or f"ROI_{number}"
        if names is not None and name not in names:
            continue
        mask = np.zeros(geo.shape, bool)
        for c in roi.get("ContourSequence", []):
            if str(c.get("ContourGeometricType", "")).upper() != "CLOSED_PLANAR":
                continue
            pts = np.asarray([float(v) for v in c.ContourData]).reshape(-1, 3)
            if len(pts) < 3:
                continue
            kji = img.lps_to_index(pts)
            k = kji[:, 0]
            k0 = int(np.round(k.mean()))
            if np.max(np.abs(k - k0)) > slice_tolerance:
                raise GeometryError(
                    f"{path}: a contour of ROI '{name}' is not in one slice plane of the reference image "
                    f"(slice index {k.min():.2f}..{k.max():.2f}); is this the image the contours were drawn on?")
            if not 0 <= k0 < shape[0]:
                raise GeometryError(f"{path}: ROI '{name}' has a contour at z = {pts[0, 2]:.2f} mm, outside the "
                                    f"reference image's {shape[0]} slices; wrong reference image?")
            rr, cc = polygon(kji[:, 1], kji[:, 2], shape=tuple(shape[1:]))
            layer = np.zeros(geo.shape[1:], bool)
            layer[rr, cc] = True
            mask[k0] ^= layer
        tags = {TAG_SOURCE: f"RTSTRUCT {path.name}"}
        gen = str(meta.get("ROIGenerationAlgorithm", "") if meta is not None else "").upper()
        if gen in _GEN_TO_TOOL:
            tags[TAG_TOOL] = _GEN_TO_TOOL[gen].value
        color = roi.get("ROIDisplayColor")
        rgb = tuple(float(v) / 255.0 for v in color) if color is not None and len(color) == 3 else (0.5, 0.5, 0.5)
        if name in ls:
            name = f"{name} ({number})"
        ls.add(Segment(name, mask, rgb, None, tags))
    return ls
