"""Models tab and Auto-label effect logic (Qt-free): registry listing, proposals, apply, training.

Runs in the Slicer desktop app and under PyPI ``slicer-core`` (tests use
``medlabel.slicer_bridge.headless.headless_scene()``). torch is imported only when a network runs;
inside Slicer it comes from the PyTorch extension, and a missing torch raises
:class:`medlabel.errors.MissingDependencyError` with that instruction.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import vtk

from medlabel.errors import InputError, MissingDependencyError
from medlabel.labels import LabelSet
from medlabel.slicer_bridge import (
    dataframe_to_table_node,
    labelset_to_segmentation_node,
    segment_tags,
    volume_node_to_image,
)

log = logging.getLogger(__name__)

SCOPES = ("slice", "slab", "volume")
TORCH_MESSAGE = ("This model needs PyTorch. Install the 'PyTorch' extension from the Extensions Manager, restart "
                 "Slicer, then open the 'PyTorch Utils' module and click 'Install PyTorch' (CPU is enough).")


def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


class ModelsLogic:
    """Registry of auto-label models, proposals for a volume, applying accepted proposals, training.

    Parameters
    ----------
    progress : callable(fraction, text), optional
    userDirs : iterable of path, optional
        Folders with user-trained models (default: ``$MEDLABEL_MODELS`` or ``~/.medlabel/models``).
    """

    def __init__(self, progress: Callable[[float, str], None] | None = None, userDirs: Iterable | None = None):
        self.progress = progress or (lambda fraction, text: log.info("%3.0f%% %s", 100 * fraction, text))
        self.userDirs = None if userDirs is None else [Path(p) for p in userDirs]
        self._registry = None

    # -- registry -------------------------------------------------------------------------------
    def registry(self, refresh: bool = False):
        """The model registry (built once; ``refresh`` re-scans the folders)."""
        if self._registry is None or refresh:
            from medlabel.autolabel import default_registry

            self._registry = default_registry(user_dirs=self.userDirs)
        return self._registry

    def modelNames(self) -> list[str]:
        return list(self.registry().names)

    def modelsDataFrame(self):
        """One row per model: name, source, kind, version, labels, parameters, test Dice, description."""
        import pandas as pd

        rows = []
        for name in self.registry().names:
            entry = self.registry().entry(name)
            card = entry.card
            test = card.metrics.get("test", {})
            rows.append({"name": name, "source": entry.source, "kind": card.kind, "version": card.version,
                         "labels": ", ".join(lab.name for lab in card.labels), "parameters": card.parameters,
                         "test_mean_dice": test.get("mean_dice", float("nan")),
                         "input_spacing_mm": "x".join(f"{v:g}" for v in card.input_spacing_mm),
                         "description": card.description})
        return pd.DataFrame(rows, columns=["name", "source", "kind", "version", "labels", "parameters",
                                           "test_mean_dice", "input_spacing_mm", "description"])

    def modelsTableNode(self, tableNode=None):
        """Fill (or create) a table node listing the registry."""
        return dataframe_to_table_node(self.modelsDataFrame(), tableNode, name="Auto-label models")

    def cardText(self, name: str) -> str:
        """The model card as indented JSON text (for display)."""
        return json.dumps(self.registry().card(name).to_dict(), indent=2)

    def model(self, name: str):
        """The loaded model; a torch model without torch raises :class:`MissingDependencyError`."""
        card = self.registry().card(name)
        if card.kind == "torch-unet2d" and not torch_available():
            raise MissingDependencyError(TORCH_MESSAGE)
        return self.registry().get(name)

    # -- proposals --------------------------------------------------------------------------------
    @staticmethod
    def sliceRange(volumeNode, scope: str, sliceIndex: int | None = None, slabHalfWidth: int = 2):
        """Slice selection for :func:`medlabel.autolabel.predict` from a scope.

        ``"slice"``: ``sliceIndex``; ``"slab"``: ``sliceIndex ± slabHalfWidth`` clipped to the volume;
        ``"volume"``: all slices (``None``). Slice index k is the volume's third IJK axis (axial).
        """
        if scope not in SCOPES:
            raise InputError(f"scope {scope!r} must be one of {', '.join(SCOPES)}")
        if scope == "volume":
            return None
        nz = volumeNode.GetImageData().GetDimensions()[2]
        if sliceIndex is None or not 0 <= int(sliceIndex) < nz:
            raise InputError(f"scope {scope!r} needs a slice index in 0..{nz - 1}; got {sliceIndex}")
        k = int(sliceIndex)
        if scope == "slice":
            return k
        return (max(0, k - int(slabHalfWidth)), min(nz, k + int(slabHalfWidth) + 1))

    @staticmethod
    def sliceIndexAtRas(volumeNode, ras) -> int:
        """Axial slice index (k, rounded, clamped) of a RAS point, e.g. the red slice view's centre."""
        ras_to_ijk = vtk.vtkMatrix4x4()
        volumeNode.GetRASToIJKMatrix(ras_to_ijk)
        ijk = ras_to_ijk.MultiplyPoint([float(ras[0]), float(ras[1]), float(ras[2]), 1.0])
        nz = volumeNode.GetImageData().GetDimensions()[2]
        return int(np.clip(round(ijk[2]), 0, nz - 1))

    def propose(self, volumeNode, modelName: str, *, scope: str = "slice", sliceIndex: int | None = None,
                slabHalfWidth: int = 2) -> LabelSet:
        """Model proposals (status ``proposed``) for the chosen slices of a CT volume node."""
        if volumeNode is None:
            raise InputError("select a CT volume first")
        from medlabel.autolabel import predict

        model = self.model(modelName)
        image = volume_node_to_image(volumeNode)
        slices = self.sliceRange(volumeNode, scope, sliceIndex, slabHalfWidth)
        t0 = time.perf_counter()
        labels = predict(image, model, slices=slices, progress=self.progress)
        log.info("%s proposed %s in %.2f s", modelName, labels.meta["slices"][:3], time.perf_counter() - t0)
        return labels

    def proposeToSegmentation(self, volumeNode, modelName: str, segmentationNode=None, **kw):
        """Proposals written into a (new) segmentation node named ``<volume> <model> proposal``."""
        labels = self.propose(volumeNode, modelName, **kw)
        return labelset_to_segmentation_node(labels, segmentationNode, volumeNode,
                                             name=f"{volumeNode.GetName()} {modelName} proposal")

    @staticmethod
    def applyProposal(segmentationNode, proposal: LabelSet, volumeNode, names: Iterable[str] | None = None) -> list[str]:
        """Write the chosen proposal segments into ``segmentationNode`` (same name: replaced on the proposed slices).

        Segments of the node that are not in the proposal are untouched; for a segment present in both,
        only the proposal's slices are replaced (other slices keep the user's voxels). Segment tags come
        from the proposal (model, status proposed, time). The caller saves the undo state before.

        Returns
        -------
        list of str
            Names of the segments written.
        """
        from medlabel.slicer_bridge import segmentation_node_to_labelset

        names = list(proposal.names if names is None else names)
        unknown = [n for n in names if n not in proposal]
        if unknown:
            raise InputError(f"segments {unknown} are not in the proposal ({proposal.names})")
        if not names:
            return []
        current = segmentation_node_to_labelset(segmentationNode, volumeNode)
        slices = proposal.meta.get("slices")
        merged = LabelSet(current.geometry, meta=dict(current.meta))
        for seg in current:
            if seg.name not in names:
                merged.add(seg.copy())
        for name in names:
            new = proposal[name].copy()
            if name in current and slices is not None:
                mask = current[name].mask.copy()
                mask[slices] = new.mask[slices]
                new.mask = mask
            merged.add(new)
        order = [s.name for s in current] + [n for n in names if n not in current]
        merged = LabelSet(merged.geometry, [merged[n] for n in order], merged.meta)
        labelset_to_segmentation_node(merged, segmentationNode, volumeNode)
        return names

    # -- training -------------------------------------------------------------------------------------
    def train(self, folder, outDir, *, name: str = "user-tissue-unet", epochs: int = 40, initFrom: str | None = None,
              onlyAccepted: bool = False, **settings):
        """Train a model on a folder of images + accepted segmentations (see ``medlabel train``).

        Returns the :class:`medlabel.autolabel.training.TrainResult`; the registry is refreshed so the
        new model appears when ``outDir`` is inside a user model folder.
        """
        if not torch_available():
            raise MissingDependencyError(TORCH_MESSAGE)
        from medlabel.autolabel.cards import tissue_labels
        from medlabel.autolabel.dataset import load_training_folder
        from medlabel.autolabel.training import TrainConfig, train_model

        init = self.model(initFrom) if initFrom else None
        labels = init.card.labels if init is not None else tissue_labels()
        samples, report = load_training_folder(folder, labels, accept_untagged=not onlyAccepted)
        if not samples:
            reasons = "; ".join(f"{r.case}: {r.reason}" for r in report.itertuples())
            raise InputError(f"{folder}: no accepted labelled case to train on ({reasons or 'no images'})")
        cfg = TrainConfig(name=name, epochs=epochs, labels=labels, training_data={"folder": str(folder)}, **settings)
        result = train_model(samples, outDir, config=cfg, init_from=init, progress=self.progress)
        self.registry(refresh=True)
        return result


def proposalSegmentNames(segmentationNode) -> list[str]:
    """Names of the segments of a node whose ``MedLabel.Status`` is ``proposed``."""
    seg = segmentationNode.GetSegmentation()
    out = []
    for i in range(seg.GetNumberOfSegments()):
        s = seg.GetNthSegment(i)
        if segment_tags(s).get("MedLabel.Status") == "proposed":
            out.append(s.GetName())
    return out
