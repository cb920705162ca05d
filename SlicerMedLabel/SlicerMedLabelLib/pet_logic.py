"""PET tab logic (Qt-free): PET DICOM → SUV volume node; segments (drawn on CT or PET) → SUV table.

Runs in the Slicer desktop app and under PyPI ``slicer-core`` (tests call
``medlabel.slicer_bridge.headless.headless_scene()`` first). Raises
:class:`medlabel.errors.MedLabelError` subclasses with a message for the user; never pops up dialogs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from medlabel.errors import InputError
from medlabel.slicer_bridge import (
    dataframe_to_table_node,
    image_to_volume_node,
    segmentation_node_to_labelset,
    table_node_to_dataframe,
    volume_node_to_image,
)

log = logging.getLogger(__name__)

#: node attributes written on SUV volumes (read back by :meth:`PetLogic.suvInfo`)
ATTR_SUV_TYPE = "MedLabel.SUVType"
ATTR_SUV_UNITS = "MedLabel.SUVUnits"
ATTR_SUV_CONVERSION = "MedLabel.SUVConversion"

#: units shown in the table node's column properties
COLUMN_UNITS = {"volume_ml": "ml", "mtv_ml": "ml", "tlg": "g", "voxel_count": "voxels"}


class PetLogic:
    """Load PET as SUV and measure segments on it.

    Parameters
    ----------
    progress : callable(fraction, text), optional
        Called during long work (the tab shows it in a progress bar); default logs.
    """

    def __init__(self, progress: Callable[[float, str], None] | None = None):
        self.progress = progress or (lambda fraction, text: log.info("%3.0f%% %s", 100 * fraction, text))
        self.lastConversion = None
        self.lastTable = None

    def loadSuvVolume(self, folder: str | Path, *, seriesUid: str | None = None, suvType: str = "bw",
                      lbmFormula: str = "janmahasatian", weightKg: float | None = None,
                      heightM: float | None = None, sex: str | None = None, doseMBq: float | None = None,
                      injectionTime: str | None = None, name: str | None = None):
        """Read a PET DICOM series, convert it to SUV and add it as a scalar volume node.

        Values given here replace the DICOM tags (weight kg, height m, sex M/F, injected activity MBq,
        injection time 'HH:MM' or ISO date-time). The conversion record is stored as JSON in the node
        attribute ``MedLabel.SUVConversion``.

        Returns
        -------
        vtkMRMLScalarVolumeNode
        """
        from medlabel.pet.series import read_pet_series

        start = time.time()
        series = read_pet_series(folder, series_uid=seriesUid, progress=lambda f, t: self.progress(0.8 * f, t))
        suv, conv = series.to_suv(
            suv_type=suvType, lbm_formula=lbmFormula, weight_kg=weightKg, height_m=heightM, sex=sex,
            injected_dose_bq=None if doseMBq is None else doseMBq * 1e6, injection_datetime=injectionTime)
        self.progress(0.85, "creating the SUV volume")
        default = str(series.headers[0].get("SeriesDescription", "") or Path(folder).name)
        node = image_to_volume_node(suv.with_array(suv.array.astype("float32")),
                                    name=name or f"{default} SUV{conv.suv_type.value}")
        node.SetAttribute(ATTR_SUV_TYPE, conv.suv_type.value)
        node.SetAttribute(ATTR_SUV_UNITS, conv.units)
        node.SetAttribute(ATTR_SUV_CONVERSION, json.dumps(conv.as_dict(), default=str))
        self.lastConversion = conv
        self.progress(1.0, f"SUV{conv.suv_type.value} volume in {time.time() - start:.1f} s")
        return node

    @staticmethod
    def suvInfo(volumeNode) -> dict:
        """The SUV conversion record stored on a node by :meth:`loadSuvVolume` ({} if none)."""
        text = volumeNode.GetAttribute(ATTR_SUV_CONVERSION) if volumeNode is not None else None
        return json.loads(text) if text else {}

    def computeStatistics(self, suvVolumeNode, segmentationNode, *, resample: str = "nearest",
                          threshold: str = "none", thresholdValue: float | None = None,
                          suvScale: float = 1.0, tableNode=None):
        """SUVmax/mean/peak, MTV and TLG of every segment into a table node.

        Parameters
        ----------
        suvVolumeNode : vtkMRMLScalarVolumeNode
            PET volume in SUV (from :meth:`loadSuvVolume`, or any SUV volume). ``suvScale`` multiplies
            its values first (e.g. a Bq/ml volume times a known SUV factor).
        segmentationNode : vtkMRMLSegmentationNode
            Segments on the PET grid or on another grid of the same study (e.g. drawn on the CT);
            those are resampled onto the PET grid with ``resample`` ('nearest' or 'fraction').
        threshold, thresholdValue : see :func:`medlabel.pet.stats.segment_pet_stats`.
        tableNode : vtkMRMLTableNode, optional
            Filled in place; a new node is created when omitted.

        Returns
        -------
        vtkMRMLTableNode
        """
        from medlabel.pet.stats import pet_statistics_table

        if suvVolumeNode is None:
            raise InputError("select the PET (SUV) volume first")
        if segmentationNode is None or segmentationNode.GetSegmentation().GetNumberOfSegments() == 0:
            raise InputError("select a segmentation that has at least one segment")
        if not suvScale or suvScale <= 0:
            raise InputError(f"suvScale must be > 0; got {suvScale}")
        start = time.time()
        self.progress(0.0, "collecting the PET volume and segments")
        image = volume_node_to_image(suvVolumeNode)
        if suvScale != 1.0:
            image = image.with_array(image.array * float(suvScale))
        labels = segmentation_node_to_labelset(segmentationNode)
        units = suvVolumeNode.GetAttribute(ATTR_SUV_UNITS) or ("g/ml" if suvScale == 1.0 else None)
        df = pet_statistics_table(image, labels, resample=resample, threshold=threshold,
                                  threshold_value=thresholdValue, suv_units=units,
                                  progress=lambda f, t: self.progress(0.1 + 0.85 * f, t))
        suv_type = suvVolumeNode.GetAttribute(ATTR_SUV_TYPE)
        if suv_type:
            df.insert(1, "suv_type", suv_type)
            formula = self.suvInfo(suvVolumeNode).get("lbm_formula")
            if formula:
                df.insert(2, "lbm_formula", formula)
        name = f"{segmentationNode.GetName()} PET statistics"
        table = dataframe_to_table_node(df, tableNode, name=name, units=COLUMN_UNITS)
        self.lastTable = df
        self.progress(1.0, f"{len(df)} segments measured in {time.time() - start:.1f} s")
        return table

    def exportTable(self, tableNode, path: str | Path, *, force: bool = False) -> Path:
        """Write the statistics table node to CSV or XLSX (by suffix), atomically."""
        from medlabel.io import write_table

        if tableNode is None:
            raise InputError("compute the statistics table first")
        return write_table(table_node_to_dataframe(tableNode), Path(path), force=force)
