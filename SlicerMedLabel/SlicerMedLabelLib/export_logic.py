"""Export tab logic (Qt-free): scene volumes + segmentations, or a CSV manifest, → data set folder.

The data set is written by the engine (:func:`medlabel.dataset.export_dataset`): COCO-style JSON
with windowed PNG slices, a DICOM SEG per category for DICOM sources, optional de-identified
DICOM copies, patient-level splits and a QA table. This file only turns nodes into engine values
and puts the QA result into a table node.

Runs in the Slicer desktop app and under PyPI ``slicer-core`` (tests call
``medlabel.slicer_bridge.headless.headless_scene()`` first). Raises
:class:`medlabel.errors.MedLabelError` subclasses with a message for the user; never pops up dialogs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from medlabel.errors import InputError
from medlabel.slicer_bridge import (
    dataframe_to_table_node,
    segmentation_node_to_labelset,
    volume_node_to_image,
)
from SlicerMedLabelLib.dependencies import CORE_MODULES, ensure_packages

log = logging.getLogger(__name__)

#: packages the export needs beyond Slicer's own (skimage: contours; matplotlib brings Pillow for PNGs)
EXPORT_MODULES: tuple[str, ...] = (*CORE_MODULES, "skimage", "matplotlib")

#: prefix of the node attributes the main module's loader writes (DICOM tags, source path)
ATTRIBUTE_PREFIX = "MedLabel."


@dataclass
class SceneCase:
    """One volume node with the segmentation nodes drawn on it (one per annotator, say)."""

    volumeNode: object
    segmentationNodes: list = field(default_factory=list)
    patientId: str | None = None


class ExportLogic:
    """Export scene data or files as a training data set.

    Parameters
    ----------
    progress : callable(fraction, text), optional
        Called while work proceeds (the tab shows a progress bar); default logs.
    """

    def __init__(self, progress: Callable[[float, str], None] | None = None):
        self.progress = progress or (lambda fraction, text: log.info("%3.0f%% %s", 100 * fraction, text))
        self.lastResult = None

    # -- nodes → engine values ----------------------------------------------------------------------
    @staticmethod
    def _metadata(node) -> dict[str, str]:
        names = node.GetAttributeNames() or ()
        return {n[len(ATTRIBUTE_PREFIX):]: node.GetAttribute(n) for n in names if n.startswith(ATTRIBUTE_PREFIX)}

    def imageFromVolume(self, volumeNode):
        """The volume as an engine Image; when it was loaded from a DICOM folder (node attribute
        ``MedLabel.source``) and that series has the node's grid, the DICOM-read image with its file list
        is used instead, so DICOM SEG masks and de-identified copies can be written."""
        from medlabel.errors import MedLabelError
        from medlabel.io import read_image

        if volumeNode is None:
            raise InputError("select a volume for every case")
        image = volume_node_to_image(volumeNode)
        meta = self._metadata(volumeNode)
        image.meta.update(meta)
        source = meta.get("source")
        if source and Path(source).is_dir():
            try:
                dicom = read_image(source, series_uid=meta.get("SeriesInstanceUID"))
            except MedLabelError as exc:
                log.warning("%s: cannot re-read the DICOM source %s (%s); exporting without DICOM outputs",
                            volumeNode.GetName(), source, exc)
                return image
            if dicom.same_geometry(image) and (dicom.array == image.array).all():
                return dicom
            log.warning("%s differs from its DICOM source %s (edited or resampled); exporting without DICOM "
                        "outputs", volumeNode.GetName(), source)
            image.meta.pop("files", None)
        return image

    def caseFromNodes(self, case: SceneCase):
        """An :class:`medlabel.dataset.ExportCase` from nodes (segments resampled onto the volume grid)."""
        from medlabel.dataset import ExportCase

        if not case.segmentationNodes:
            raise InputError(f"case {case.volumeNode.GetName() if case.volumeNode else '?'}: select at least one "
                             "segmentation")
        image = self.imageFromVolume(case.volumeNode)
        sets = []
        for node in case.segmentationNodes:
            ls = segmentation_node_to_labelset(node, case.volumeNode)
            ls.meta["source"] = node.GetName()
            sets.append(ls)
        patient = case.patientId or image.meta.get("PatientID") or case.volumeNode.GetName()
        return ExportCase(image, sets, patient_id=str(patient))

    # -- export ---------------------------------------------------------------------------------------
    def exportCases(self, cases: list[SceneCase], outputDir: str | Path, *, split: str = "8:1:1", seed: int = 0,
                    stratify: str | None = None, deidentify: bool = False, salt: str | None = None,
                    window: str = "auto", allSlices: bool = False, dicomMasks: bool = True,
                    supercategories: dict[str, str] | None = None, force: bool = False, qaTableNode=None):
        """Export scene cases; returns ``(ExportResult, qaTableNode)``.

        See :func:`medlabel.dataset.export_dataset` for the options; ``allSlices`` exports every slice
        instead of the labelled ones.
        """
        if not cases:
            raise InputError("add at least one case (a volume with its segmentations) before exporting")
        if not outputDir:
            raise InputError("choose an output folder")
        start = time.time()
        self.progress(0.0, "collecting cases from the scene")
        engine_cases = [self.caseFromNodes(c) for c in cases]
        return self._export(engine_cases, outputDir, start, split=split, seed=seed, stratify=stratify,
                            deidentify=deidentify, salt=salt, window=window, allSlices=allSlices,
                            dicomMasks=dicomMasks, supercategories=supercategories, force=force,
                            qaTableNode=qaTableNode)

    def exportManifest(self, manifestPath: str | Path, outputDir: str | Path, **options):
        """Export the files listed in a CSV manifest (columns image, segmentation[, patient_id, annotator,
        names]) exactly like ``medlabel export manifest.csv``; returns ``(ExportResult, qaTableNode)``."""
        from medlabel.commands.export import cases_from_inputs

        if not manifestPath:
            raise InputError("choose a manifest CSV file")
        ensure_packages(EXPORT_MODULES)
        start = time.time()
        self.progress(0.0, f"reading {Path(manifestPath).name}")
        cases = cases_from_inputs([Path(manifestPath)])
        return self._export(cases, outputDir, start, **options)

    def _export(self, cases, outputDir, start, *, split="8:1:1", seed=0, stratify=None, deidentify=False,
                salt=None, window="auto", allSlices=False, dicomMasks=True, supercategories=None, force=False,
                qaTableNode=None):
        ensure_packages(EXPORT_MODULES)  # inside Slicer: asks, then installs what is missing
        from medlabel.dataset import export_dataset

        if not outputDir:
            raise InputError("choose an output folder")
        result = export_dataset(
            cases, Path(outputDir), split=split, seed=int(seed), stratify=stratify or None, deidentify=deidentify,
            salt=salt or None, window=window or "auto", slices="all" if allSlices else "labeled",
            dicom_masks=dicomMasks, supercategories=supercategories or None, force=force,
            progress=lambda f, t: self.progress(0.05 + 0.9 * f, t))
        self.progress(0.97, "showing the QA table")
        table = dataframe_to_table_node(result.qa, qaTableNode, name="Export QA")
        self.lastResult = result
        self.progress(1.0, f"exported {result.n_images} slices, {result.n_annotations} annotations in "
                           f"{time.time() - start:.1f} s")
        return result, table

    @staticmethod
    def summary(result) -> str:
        """A few lines for the user: counts, splits, DICOM outputs, notes, QA verdict."""
        from medlabel.dataset import summarize

        per_split: dict[str, int] = {}
        for s in result.splits.values():
            per_split[s] = per_split.get(s, 0) + 1
        lines = [f"{result.n_images} slices, {result.n_annotations} annotations, categories: "
                 f"{', '.join(result.categories)}",
                 "patients per split: " + ", ".join(f"{k} {v}" for k, v in per_split.items()),
                 f"DICOM SEG masks: {len(result.files.get('masks', []))}, de-identified DICOM files: "
                 f"{len(result.files.get('dicom', []))}"]
        lines += [f"note: {n}" for n in result.notes]
        lines.append(summarize(result.qa))
        return "\n".join(lines)
