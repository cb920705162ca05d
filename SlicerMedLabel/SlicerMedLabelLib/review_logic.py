"""Review tab logic (Qt-free): annotators' segmentation nodes → consensus, tables, disagreement map.

Runs in the Slicer desktop app and under PyPI ``slicer-core`` (tests use
``medlabel.slicer_bridge.headless.headless_scene()``). Raises :class:`medlabel.errors.MedLabelError`
subclasses with a message for the user; never pops up dialogs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import slicer

# medlabel.review needs pandas, which Slicer does not ship: it is imported in the methods (after the tab
# called ensure_packages), so that importing this file - and building the Review tab - works without it.
if TYPE_CHECKING:
    from medlabel.review.consensus import ReviewResult
    from medlabel.review.inputs import Annotation
from medlabel.errors import InputError
from medlabel.labels import TAG_ANNOTATOR, TAG_SKILL, TAG_STATUS, TAG_TOOL, Status, now_iso
from medlabel.slicer_bridge import (
    dataframe_to_table_node,
    image_to_volume_node,
    labelset_to_segmentation_node,
    segment_tags,
    segmentation_node_to_labelset,
    volume_node_to_image,
)

log = logging.getLogger(__name__)

#: what the Accept / Redo / Adjudicate buttons write into MedLabel.Status
BUTTON_STATUS = {"accept": Status.ACCEPTED, "redo": Status.REDO, "adjudicate": Status.ADJUDICATED}


class ReviewLogic:
    """Compute a review from segmentation nodes and write its results back into the scene.

    Parameters
    ----------
    progress : callable(fraction, text), optional
        Called during long work (the tab shows it in a progress bar).
    """

    def __init__(self, progress: Callable[[float, str], None] | None = None):
        self.progress = progress or (lambda fraction, text: log.info("%3.0f%% %s", 100 * fraction, text))
        self.lastResult: ReviewResult | None = None

    # -- inputs ---------------------------------------------------------------------------------
    @staticmethod
    def annotatorOf(segmentationNode) -> str:
        """Annotator id of a node: the segments' ``MedLabel.Annotator`` tag if they agree, else the node name."""
        seg = segmentationNode.GetSegmentation()
        values = {segment_tags(seg.GetNthSegment(i)).get(TAG_ANNOTATOR) for i in range(seg.GetNumberOfSegments())}
        values.discard(None)
        return values.pop() if len(values) == 1 else segmentationNode.GetName()

    def annotationsFromNodes(self, segmentationNodes: Sequence, referenceVolume=None) -> list[Annotation]:
        """One :class:`Annotation` per node (masks on the reference volume's grid when given)."""
        from medlabel.review.inputs import Annotation

        out = []
        for node in segmentationNodes:
            ls = segmentation_node_to_labelset(node, referenceVolume)
            tags = [s.tags for s in ls]
            skill = next((t[TAG_SKILL] for t in tags if TAG_SKILL in t), "expert")
            tool = next((t[TAG_TOOL] for t in tags if TAG_TOOL in t), "manual")
            out.append(Annotation(self.annotatorOf(node), ls, skill, tool, source=node.GetID()))
        names = [a.annotator for a in out]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise InputError(f"annotator ids {sorted(dup)} appear on several segmentations; rename the nodes or set "
                             f"the segment tag {TAG_ANNOTATOR}")
        return out

    # -- compute --------------------------------------------------------------------------------
    def compute(self, referenceVolume, segmentationNodes: Sequence, *, method: str = "staple", k: int | None = None,
                minDice: float = 0.5, toleranceMm: float = 2.0, acceptThreshold: float = 0.9,
                adjudicationThreshold: float = 0.8, referenceAnnotator: str | None = None) -> dict:
        """Run the review and add its results to the scene.

        Returns
        -------
        dict
            ``consensus`` (vtkMRMLSegmentationNode), ``disagreement`` (vtkMRMLScalarVolumeNode, number of
            annotators disagreeing with the majority), and table nodes ``perAnnotator``, ``pairwise``,
            ``flags``, ``review``. The engine result stays in :attr:`lastResult`.
        """
        from medlabel.review.consensus import METHODS, review

        if referenceVolume is None:
            raise InputError("Select the image (volume) the annotators segmented.")
        nodes = [n for n in segmentationNodes if n is not None]
        if len(nodes) < 2:
            raise InputError(f"Select at least two annotators' segmentations; {len(nodes)} selected.")
        if method not in METHODS:
            raise InputError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
        start = time.time()
        self.progress(0.0, "reading segmentations")
        anns = self.annotationsFromNodes(nodes, referenceVolume)
        result = review(anns, method=method, k=k, min_dice=minDice, tolerance_mm=toleranceMm,
                        accept_threshold=acceptThreshold, adjudication_threshold=adjudicationThreshold,
                        reference_annotator=referenceAnnotator,
                        progress=lambda f, t: self.progress(0.05 + 0.85 * f, t))
        self.lastResult = result
        self.progress(0.92, "creating result nodes")
        scene = slicer.mrmlScene
        label = method if method != "kofn" else f"{k}-of-{len(nodes)}"
        consensus = labelset_to_segmentation_node(result.consensus, None, referenceVolume,
                                                  name=scene.GenerateUniqueName(f"Consensus ({label})"))
        image = volume_node_to_image(referenceVolume)
        dis = image_to_volume_node(image.with_array(result.disagreement),
                                   name=scene.GenerateUniqueName("Disagreement"))
        tables = {}
        for key, df, title in (("perAnnotator", result.per_annotator, "Agreement per annotator"),
                               ("pairwise", result.pairwise, "Pairwise agreement"),
                               ("flags", result.flags, "Review flags"), ("review", result.review, "Review decisions")):
            tables[key] = dataframe_to_table_node(df, name=scene.GenerateUniqueName(title))
        self.progress(1.0, f"review done in {time.time() - start:.1f} s")
        log.info("Review of %d annotators (%s) took %.1f s", len(nodes), method, time.time() - start)
        return {"consensus": consensus, "disagreement": dis, **tables}

    # -- workflow buttons -----------------------------------------------------------------------
    def applyDecisions(self, segmentationNodes: Sequence) -> int:
        """Write the last review's suggested decisions (status, decision, score, reference) into the
        matching segments' tags of the annotators' nodes; returns the number of segments updated."""
        from medlabel.review.workflow import (
            TAG_DECISION,
            TAG_METRIC,
            TAG_REFERENCE,
            TAG_REVIEW_TIME,
            TAG_SCORE,
        )

        if self.lastResult is None:
            raise InputError("Compute a review first; there are no decisions to apply.")
        table = self.lastResult.review
        count = 0
        for node in segmentationNodes:
            if node is None:
                continue
            rows = table[table["annotator"] == self.annotatorOf(node)]
            seg = node.GetSegmentation()
            for _, r in rows.iterrows():
                sid = seg.GetSegmentIdBySegmentName(r["structure"])
                if not sid:
                    continue
                segment = seg.GetSegment(sid)
                segment.SetTag(TAG_STATUS, str(r["status"]))
                segment.SetTag(TAG_DECISION, str(r["decision"]))
                segment.SetTag(TAG_SCORE, "" if r["score"] != r["score"] else f"{float(r['score']):.4f}")
                segment.SetTag(TAG_METRIC, str(r["metric"]))
                segment.SetTag(TAG_REFERENCE, str(r["reference"]))
                segment.SetTag(TAG_REVIEW_TIME, str(r["time"]))
                count += 1
            node.Modified()
        return count

    @staticmethod
    def setStatus(segmentationNode, action: str, *, segmentIds: Sequence[str] | None = None,
                  reviewer: str = "") -> list[str]:
        """Accept / redo / adjudicate: write ``MedLabel.Status`` (and reviewer, time) into segment tags.

        Parameters
        ----------
        segmentationNode : vtkMRMLSegmentationNode
            The annotator's segmentation (its voxels are not touched).
        action : {'accept', 'redo', 'adjudicate'} or a Status value
        segmentIds : sequence of str, optional
            Segments to mark (default: all).

        Returns
        -------
        list of str
            The segment ids that were marked.
        """
        from medlabel.review.workflow import TAG_DECISION, TAG_REVIEW_TIME, TAG_REVIEWER

        if segmentationNode is None:
            raise InputError("Select the annotator's segmentation to mark.")
        status = BUTTON_STATUS.get(action)
        if status is None:
            try:
                status = Status(action)
            except ValueError:
                raise InputError(f"Unknown review action {action!r}; use accept, redo or adjudicate.") from None
        seg = segmentationNode.GetSegmentation()
        ids = list(segmentIds) if segmentIds else [seg.GetNthSegmentID(i) for i in range(seg.GetNumberOfSegments())]
        when = now_iso()
        for sid in ids:
            segment = seg.GetSegment(sid)
            if segment is None:
                raise InputError(f"Segmentation '{segmentationNode.GetName()}' has no segment with id '{sid}'.")
            segment.SetTag(TAG_STATUS, status.value)
            segment.SetTag(TAG_REVIEW_TIME, when)
            if reviewer:
                segment.SetTag(TAG_REVIEWER, reviewer)
            if status is Status.ADJUDICATED:
                segment.SetTag(TAG_DECISION, "adjudicate")
        segmentationNode.Modified()
        return ids
