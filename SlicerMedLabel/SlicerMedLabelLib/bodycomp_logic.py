"""Body-composition tab logic (Qt-free): CT volume → L3 tissue segmentation + results tables; Recompute
after the user edits the segments; Export of CSV/XLSX/PNG/.seg.nrrd.

Runs in the Slicer desktop app and under PyPI ``slicer-core`` (tests call
``medlabel.slicer_bridge.headless.headless_scene()`` first). Raises
:class:`medlabel.errors.MedLabelError` subclasses with a message for the user; never pops up dialogs.
The slice choice and settings of a computation are stored as JSON in the segmentation node attribute
``MedLabel.BodyComposition`` so that Recompute and Export reproduce them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from medlabel.errors import InputError
from medlabel.slicer_bridge import (
    dataframe_to_table_node,
    image_to_volume_node,
    labelset_to_segmentation_node,
    segmentation_node_to_labelset,
    volume_node_to_image,
)

log = logging.getLogger(__name__)

ATTR_SETTINGS = "MedLabel.BodyComposition"
#: DICOM-style patient tags stored on volume nodes loaded by :meth:`BodyCompositionLogic.loadStudy`
PATIENT_ATTRS = ("PatientID", "PatientSex", "PatientSize", "PatientWeight", "StudyInstanceUID", "SeriesInstanceUID")
#: DICOM tags read from the Slicer DICOM database for volumes loaded by Slicer's DICOM module
_DICOM_TAGS = {"PatientSex": "0010,0040", "PatientSize": "0010,1020", "PatientWeight": "0010,1030",
               "PatientID": "0010,0020", "StudyInstanceUID": "0020,000D", "SeriesInstanceUID": "0020,000E"}


#: packages the body-composition engine needs beyond what Slicer ships (see dependencies.py)
PACKAGES = ("scipy", "pandas", "openpyxl", "nrrd", "matplotlib")


def referenceChoices(folder: str | Path | None = None) -> list[tuple[str, str]]:
    """(name, population) of the shipped distribution reference sets, read with ``json`` only
    (so that the tab can list them before the engine's packages are installed)."""
    folder = Path(folder) if folder else Path(__file__).resolve().parents[1] / "Resources" / "References"
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if data.get("kind") == "distribution":
            out.append((str(data.get("name", path.stem)), str(data.get("population", ""))))
    return out


class BodyCompositionLogic:
    """Compute, recompute and export body composition at L3 for a CT volume node.

    Parameters
    ----------
    progress : callable(fraction, text), optional
        Called during long work; default logs.
    """

    def __init__(self, progress: Callable[[float, str], None] | None = None):
        self.progress = progress or (lambda fraction, text: log.info("%3.0f%% %s", 100 * fraction, text))
        self.lastResult = None

    # -- inputs ---------------------------------------------------------------------------------
    def loadStudy(self, path: str | Path, name: str | None = None):
        """Read a DICOM folder or image file with the engine and add it as a volume node; the patient
        tags (sex, height in m, weight in kg, ids) are kept as node attributes."""
        from medlabel import io

        image = io.read_image(path)
        node = image_to_volume_node(image, name=name or Path(path).name.split(".")[0])
        for key in PATIENT_ATTRS:
            if image.meta.get(key) not in (None, ""):
                node.SetAttribute(f"MedLabel.{key}", str(image.meta[key]))
        return node

    @staticmethod
    def patientInfo(volumeNode) -> dict:
        """Patient tags of a volume node: from our attributes, else from Slicer's DICOM database.

        Returns a dict with any of PatientSex, PatientSize (m), PatientWeight (kg), ids; empty when
        nothing is known. Use :meth:`prefill` for plausibility-checked values.
        """
        if volumeNode is None:
            return {}
        meta = {}
        for key in PATIENT_ATTRS:
            v = volumeNode.GetAttribute(f"MedLabel.{key}")
            if v not in (None, ""):
                meta[key] = v
        uids = volumeNode.GetAttribute("DICOM.instanceUIDs")
        if not meta and uids:
            try:
                import slicer

                db = slicer.dicomDatabase
                first = db.fileForInstance(uids.split()[0])
                for key, tag in _DICOM_TAGS.items():
                    value = db.fileValue(first, tag)
                    if value:
                        meta[key] = value
            except Exception as exc:  # noqa: BLE001 - no DICOM database (headless) or a missing file
                log.info("DICOM tags of %s not available: %s", volumeNode.GetName(), exc)
        return meta

    def prefill(self, volumeNode) -> dict:
        """Sex ('M'/'F'/''), height (m), weight (kg) for the tab's fields, with sources and notes."""
        from medlabel.bodycomp import patient_height_weight

        a = patient_height_weight(self.patientInfo(volumeNode))
        return {"sex": a.sex or "", "heightM": a.height_m or 0.0, "weightKg": a.weight_kg or 0.0,
                "sources": {"sex": a.sex_source, "height": a.height_source, "weight": a.weight_source},
                "notes": list(a.notes)}

    @staticmethod
    def sliceIndexAtRas(volumeNode, ras) -> int:
        """Array slice index k of the volume at an RAS point (e.g. the Red slice view's offset)."""
        image = volume_node_to_image(volumeNode)
        lps = np.array([-float(ras[0]), -float(ras[1]), float(ras[2])])
        k = int(round(image.lps_to_index(lps)[0][0]))
        if not 0 <= k < image.shape[0]:
            raise InputError(f"the point {tuple(ras)} (RAS) lies outside '{volumeNode.GetName()}' "
                             f"(slices 0..{image.shape[0] - 1}); move the slice view onto the volume")
        return k

    @staticmethod
    def sliceRasZ(volumeNode, sliceIndex: int) -> float:
        """RAS z (= LPS z, mm) of the centre of slice k (to move the Red view there)."""
        image = volume_node_to_image(volumeNode)
        return float(image.slice_z_mm()[int(sliceIndex)])

    def suggestL3(self, volumeNode, vertebraLabelNode=None):
        """Automatic L3 suggestion (index, confidence, method, note); never applied by itself."""
        from medlabel.bodycomp import suggest_l3

        image = volume_node_to_image(volumeNode)
        labels = volume_node_to_image(vertebraLabelNode).array if vertebraLabelNode is not None else None
        return suggest_l3(image, vertebra_labels=labels)

    # -- compute --------------------------------------------------------------------------------
    def compute(self, volumeNode, sliceIndex: int, *, slabSlices: int = 1, sex: str | None = None,
                heightM: float | None = None, weightKg: float | None = None, preset: str = "alberta",
                reference: str = "lee2022", method: str = "index", confidence: float | None = None,
                note: str = "", segmentationNode=None, metricsTableNode=None, resultsTableNode=None):
        """Label the tissues on the chosen slice(s) and fill the results tables.

        Parameters
        ----------
        volumeNode : vtkMRMLScalarVolumeNode
            CT in HU.
        sliceIndex : int
            Array index k of the L3 slice (see :meth:`sliceIndexAtRas`).
        slabSlices : int
            Odd number of slices averaged around it.
        sex, heightM, weightKg : optional
            User values (0/'' = use the DICOM tags).
        method, confidence, note :
            How the slice was chosen ('index', 'auto_l3_image', ...), recorded in the outputs.

        Returns
        -------
        (vtkMRMLSegmentationNode, vtkMRMLTableNode metrics per tissue, vtkMRMLTableNode results row)
        """
        from medlabel.bodycomp import choose_slices, run_study

        if volumeNode is None:
            raise InputError("select the CT volume first")
        start = time.time()
        self.progress(0.0, "reading the CT volume")
        image = self._image(volumeNode)
        choice = choose_slices(image, slice_index=int(sliceIndex), slab_slices=int(slabSlices))
        res = run_study(image, slice_index=int(sliceIndex), slab_slices=int(slabSlices), sex=sex or None,
                        height_m=heightM or None, weight_kg=weightKg or None, preset=preset, reference=reference,
                        progress=lambda f, t: self.progress(0.05 + 0.8 * f, t))
        self.progress(0.9, "creating the segmentation")
        name = f"{volumeNode.GetName()} L3 tissues"
        segmentationNode = labelset_to_segmentation_node(res.labels, segmentationNode, volumeNode, name=name)
        settings = {"slice_indices": choice.indices, "centre": choice.centre, "method": method,
                    "confidence": confidence, "note": note, "preset": preset, "reference": reference,
                    "sex": sex or None, "height_m": heightM or None, "weight_kg": weightKg or None,
                    "labeller": res.labels.meta.get("model", "")}
        segmentationNode.SetAttribute(ATTR_SETTINGS, json.dumps(settings))
        tables = self._tables(res.metrics, res.row, volumeNode, metricsTableNode, resultsTableNode)
        self.lastResult = res
        self.progress(1.0, f"body composition in {time.time() - start:.1f} s")
        return (segmentationNode, *tables)

    def recompute(self, volumeNode, segmentationNode, *, sex: str | None = None, heightM: float | None = None,
                  weightKg: float | None = None, metricsTableNode=None, resultsTableNode=None):
        """Metrics, indices and T-scores again from the (edited) segments, without relabelling.

        Sex/height/weight given here replace the stored ones (0/'' keeps them).
        """
        from medlabel.bodycomp import SliceChoice, StudyResult, compute_results, resolve_windows

        start = time.time()
        settings = self.settings(segmentationNode)
        image = self._image(volumeNode)
        labels = segmentation_node_to_labelset(segmentationNode, reference_volume=volumeNode)
        choice = SliceChoice(list(settings["slice_indices"]), settings["method"], int(settings["centre"]),
                             settings.get("confidence"), [float(image.slice_z_mm()[k]) for k in settings["slice_indices"]],
                             settings.get("note", ""))
        sex = sex or settings.get("sex")
        heightM = heightM or settings.get("height_m")
        weightKg = weightKg or settings.get("weight_kg")
        windows = resolve_windows(settings.get("preset", "alberta"))
        metrics, row, anthro = compute_results(image, labels, choice, windows=windows,
                                               method=f"{settings.get('labeller', '')} + edited in Slicer",
                                               sex=sex, height_m=heightM, weight_kg=weightKg,
                                               reference=settings.get("reference", "lee2022"))
        settings.update({"sex": sex, "height_m": heightM, "weight_kg": weightKg})
        segmentationNode.SetAttribute(ATTR_SETTINGS, json.dumps(settings))
        tables = self._tables(metrics, row, volumeNode, metricsTableNode, resultsTableNode)
        self.lastResult = StudyResult(labels, metrics, row, choice, anthro, seconds=time.time() - start)
        log.info("recomputed body composition in %.3f s", time.time() - start)
        return tables

    def export(self, volumeNode, segmentationNode, outputFolder: str | Path, *, force: bool = False) -> dict:
        """Recompute from the current segments and write CSV, XLSX, overlay PNG and ``.seg.nrrd``."""
        from medlabel.bodycomp import write_outputs

        self.recompute(volumeNode, segmentationNode)
        return write_outputs(self.lastResult, self._image(volumeNode), outputFolder, force=force)

    # -- helpers --------------------------------------------------------------------------------
    @staticmethod
    def settings(segmentationNode) -> dict:
        text = segmentationNode.GetAttribute(ATTR_SETTINGS) if segmentationNode is not None else None
        if not text:
            raise InputError("this segmentation was not made by Compute (no slice settings stored); "
                             "press Compute first")
        return json.loads(text)

    def _image(self, volumeNode):
        image = volume_node_to_image(volumeNode)
        meta = self.patientInfo(volumeNode)
        meta.setdefault("source", volumeNode.GetName())
        return image.with_array(image.array, **meta)

    @staticmethod
    def _tables(metrics, row, volumeNode, metricsTableNode, resultsTableNode):
        import pandas as pd

        units = {"area_cm2": "cm2", "area_sd_cm2": "cm2", "mean_hu": "HU", "sd_hu": "HU", "min_hu": "HU",
                 "max_hu": "HU", "pixel_count": "pixels"}
        metricsTableNode = dataframe_to_table_node(metrics, metricsTableNode,
                                                   name=f"{volumeNode.GetName()} L3 tissue metrics", units=units)
        pairs = pd.DataFrame({"quantity": list(row.keys()), "value": [str(v) for v in row.values()]})
        resultsTableNode = dataframe_to_table_node(pairs, resultsTableNode,
                                                   name=f"{volumeNode.GetName()} L3 body composition")
        return metricsTableNode, resultsTableNode
