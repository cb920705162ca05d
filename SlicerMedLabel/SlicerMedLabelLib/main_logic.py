"""Qt-free logic of the main SlicerMedLabel module, shared by all tabs.

Everything goes through the engine (``medlabel.io``) and the bridge (``medlabel.slicer_bridge``),
so files are read and written exactly like the command line does it: same readers, same
``.seg.nrrd`` writer, same atomic writes and refusal to overwrite without ``force``.

Runs inside the Slicer application and under PyPI ``slicer-core`` (tests call
:func:`medlabel.slicer_bridge.headless.headless_scene` first). Methods raise
:class:`~medlabel.errors.MedLabelError` subclasses; the widgets show them with
``slicer.util.tryWithErrorDisplay``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import slicer

from medlabel.errors import InputError
from medlabel.slicer_bridge import (
    dataframe_to_table_node,
    image_to_volume_node,
    labelset_to_segmentation_node,
    segmentation_node_to_labelset,
    table_node_to_dataframe,
    volume_node_to_image,
)

try:  # the desktop application; slicer-core has no ScriptedLoadableModule
    from slicer.ScriptedLoadableModule import ScriptedLoadableModuleLogic as _LogicBase
except ImportError:  # pragma: no cover - depends on where we run
    _LogicBase = object

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]

#: prefix of the node attributes that keep an image's metadata (DICOM tags) on its volume node
ATTRIBUTE_PREFIX = "MedLabel."


def _log_progress(fraction: float, text: str) -> None:
    log.info("%3.0f%% %s", 100 * fraction, text)


class SlicerMedLabelLogic(_LogicBase):
    """File and node operations of the SlicerMedLabel module (no GUI, console- and test-callable).

    Parameters
    ----------
    progress : callable(fraction, text), optional
        Called with a fraction in 0..1 and a short message while work proceeds; the widget
        connects it to a progress bar. Defaults to logging.
    """

    def __init__(self, progress: Progress | None = None) -> None:
        if _LogicBase is not object:
            _LogicBase.__init__(self)
        self.progress: Progress = progress or _log_progress

    # -- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _scene():
        scene = getattr(slicer, "mrmlScene", None)
        if scene is None:
            raise InputError("no MRML scene: under slicer-core call medlabel.slicer_bridge.headless.headless_scene()")
        return scene

    def _report(self, fraction: float, text: str) -> None:
        self.progress(float(min(max(fraction, 0.0), 1.0)), text)

    # -- volumes ----------------------------------------------------------------------------------
    def loadVolume(self, path: str | Path, *, seriesUid: str | None = None, name: str | None = None):
        """Read an image (DICOM folder or file, NIfTI, NRRD) with ``medlabel.io.read_image`` into a new
        scalar volume node.

        The image's scalar metadata (PatientSex, PatientSize [m], PatientWeight [kg], Modality,
        SeriesInstanceUID, PET tags ...) is kept as node attributes ``MedLabel.<tag>``
        (:meth:`volumeMetadata` reads them back); reader warnings (gaps, uneven spacing, several
        series) are logged and stored in ``MedLabel.warnings``.

        Returns
        -------
        vtkMRMLScalarVolumeNode
        """
        from medlabel.io import read_image

        path = Path(path)
        start = time.time()
        self._report(0.0, f"Reading {path.name}")
        image = read_image(path, series_uid=seriesUid)
        self._report(0.7, "Creating volume node")
        default = path.name.split(".")[0] if path.is_file() else path.name
        node = image_to_volume_node(image, name=name or image.meta.get("SeriesDescription") or default)
        self._setMetadata(node, image.meta)
        for warning in image.meta.get("warnings", []):
            log.warning("%s: %s", path.name, warning)
        self._report(1.0, f"Loaded {node.GetName()} {image.shape[::-1]} in {time.time() - start:.1f} s")
        return node

    @staticmethod
    def _setMetadata(node, meta: dict) -> None:
        for key, value in meta.items():
            if isinstance(value, bool | int | float | str) and key != "files":
                node.SetAttribute(ATTRIBUTE_PREFIX + str(key), str(value))
        if meta.get("warnings"):
            node.SetAttribute(ATTRIBUTE_PREFIX + "warnings", " | ".join(str(w) for w in meta["warnings"]))

    @staticmethod
    def volumeMetadata(volumeNode) -> dict[str, str]:
        """The ``MedLabel.*`` attributes of a node as ``{tag: text}`` (prefix removed)."""
        names = volumeNode.GetAttributeNames() or ()
        return {n[len(ATTRIBUTE_PREFIX):]: volumeNode.GetAttribute(n) for n in names if n.startswith(ATTRIBUTE_PREFIX)}

    def volumeToImage(self, volumeNode):
        """The node as an engine :class:`~medlabel.image.Image` (voxels copied, LPS geometry, metadata)."""
        if volumeNode is None:
            raise InputError("select a volume first")
        image = volume_node_to_image(volumeNode)
        image.meta.update(self.volumeMetadata(volumeNode))
        return image

    # -- segmentations ----------------------------------------------------------------------------
    def loadSegmentation(self, path: str | Path, *, referenceVolume=None, name: str | None = None):
        """Read a segmentation (``.seg.nrrd``, label map NIfTI/NRRD, DICOM SEG) with
        ``medlabel.io.read_segmentation`` into a new segmentation node.

        With ``referenceVolume`` the segmentation must lie on (label maps, .seg.nrrd) or is placed on
        (DICOM SEG) that volume's grid; a mismatch raises :class:`~medlabel.errors.GeometryError`.
        """
        from medlabel.io import read_segmentation

        path = Path(path)
        self._report(0.0, f"Reading {path.name}")
        reference = volume_node_to_image(referenceVolume) if referenceVolume is not None else None
        labelset = read_segmentation(path, reference=reference)
        self._report(0.6, f"Creating {len(labelset)} segments")
        node = labelset_to_segmentation_node(labelset, reference_volume=referenceVolume,
                                             name=name or path.name.split(".")[0])
        self._report(1.0, f"Loaded {len(labelset)} segments from {path.name}")
        return node

    def segmentationToLabelSet(self, segmentationNode, referenceVolume=None):
        """The node as an engine :class:`~medlabel.labels.LabelSet` (on the reference volume's grid if given)."""
        if segmentationNode is None:
            raise InputError("select a segmentation first")
        return segmentation_node_to_labelset(segmentationNode, reference_volume=referenceVolume)

    def saveSegmentation(self, segmentationNode, path: str | Path, *, referenceVolume=None,
                         force: bool = False) -> Path:
        """Write a segmentation node to ``.seg.nrrd`` with ``medlabel.io.write_seg_nrrd`` (atomic).

        Names, colours, terminology and tags are kept; overlapping segments go to separate layers.
        An existing file is replaced only with ``force=True`` (else OutputExistsError, nothing written).
        """
        from medlabel.io import write_seg_nrrd

        path = Path(path)
        self._report(0.0, f"Collecting segments of {segmentationNode.GetName() if segmentationNode else '?'}")
        labelset = self.segmentationToLabelSet(segmentationNode, referenceVolume)
        self._report(0.5, f"Writing {path.name}")
        out = write_seg_nrrd(labelset, path, force=force)
        self._report(1.0, f"Saved {len(labelset)} segments to {out}")
        return out

    # -- tables -----------------------------------------------------------------------------------
    def exportTable(self, tableNode, path: str | Path, *, force: bool = False) -> Path:
        """Write a table node to CSV or XLSX (by suffix) with ``medlabel.io.write_table`` (atomic)."""
        from medlabel.io import write_table

        if tableNode is None:
            raise InputError("select a table first")
        self._report(0.0, f"Exporting {tableNode.GetName()}")
        out = write_table(table_node_to_dataframe(tableNode), Path(path), force=force)
        self._report(1.0, f"Wrote {out}")
        return out

    def showTable(self, df, tableNode=None, *, name: str = "Table", units: dict[str, str] | None = None):
        """Put a DataFrame into a (new or given) table node; returns the node."""
        return dataframe_to_table_node(df, tableNode, name=name, units=units)

    # -- phantom ------------------------------------------------------------------------------------
    def addPhantom(self, *, shape=(3, 256, 256), spacingMm=(3.0, 1.6, 1.6), seed: int = 0,
                   name: str = "L3 phantom"):
        """Add the synthetic L3 phantom (``medlabel.phantom.make_l3_phantom``) as a volume and its
        exact truth as a segmentation; returns ``(volumeNode, segmentationNode)``."""
        from medlabel.phantom import make_l3_phantom

        self._report(0.0, "Generating L3 phantom")
        image, truth = make_l3_phantom(tuple(shape), tuple(spacingMm), seed=seed)
        self._report(0.6, "Creating nodes")
        volume = image_to_volume_node(image, name=name)
        self._setMetadata(volume, image.meta)
        segmentation = labelset_to_segmentation_node(truth, reference_volume=volume, name=f"{name} truth")
        self._report(1.0, f"Phantom {image.shape[::-1]} with {len(truth)} truth segments")
        return volume, segmentation


# -- tabs of the main module ---------------------------------------------------------------------------
def build_tab(page, title: str, candidates: tuple[str, ...], *, make_layout: Callable[[object], object],
              package: str = "SlicerMedLabelLib", importer: Callable[[str], object] | None = None):
    """Build the tab of one page of the main module; never raises.

    For the first module ``<package>.<name>`` of ``candidates`` that exists, call ``<name>(page)`` (the
    class has the module's name). The page comes without a layout and the tab makes its own; a tab
    that expects one (``page.layout().addWidget`` fails on None) gets ``make_layout(page)`` and a
    second try.

    Returns
    -------
    (tab, message)
        The tab object and None, or None and a message for the user (missing tab file, missing
        package, or the tab's error); details are logged with the traceback.
    """
    import importlib

    importer = importer or importlib.import_module
    for name in candidates:
        full = f"{package}.{name}"
        try:
            module = importer(full)
        except ModuleNotFoundError as exc:
            if exc.name == full:
                continue  # this candidate file does not exist
            log.exception("tab %s needs a missing package", title)
            return None, f"The {title} tab needs the Python package '{exc.name}', which is not installed."
        except Exception as exc:  # a broken tab must not break the module
            log.exception("tab %s failed to import", title)
            return None, f"The {title} tab could not be loaded: {exc}"
        tab_class = getattr(module, name, None)
        if tab_class is None:
            return None, f"The {title} tab could not be loaded: {full} defines no class {name}."
        try:
            try:
                return tab_class(page), None
            except AttributeError as exc:
                if page.layout() is not None or "NoneType" not in str(exc):
                    raise
                log.info("tab %s expects a page layout; adding one", name)
                make_layout(page)
                return tab_class(page), None
        except Exception as exc:
            log.exception("tab %s failed to build", title)
            return None, f"The {title} tab could not be built: {exc}"
    return None, f"The {title} tab is not available in this version."
