#!/usr/bin/env python3
"""Picture for the README: a real Slicer scene read through the bridge.

Slicer's own readers (slicer-core ``vtkMRMLVolumeArchetypeStorageNode`` and
``vtkMRMLSegmentationStorageNode``) load ../shared/data/slicerio/CTChest4.nrrd and
Segmentation.seg.nrrd; the bridge turns the nodes into an ``Image`` and a ``LabelSet``; the picture
shows three axial slices with the segments and says whether every mask equals the engine's own
reader (``medlabel.io.read_seg_nrrd``).

    python tools/make_slicer_figure.py [--force]     → docs/images/slicer_bridge.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "SlicerMedLabel"))
DATA = (REPO / ".." / "shared" / "data" / "slicerio").resolve()
OUT = REPO / "docs" / "images" / "slicer_bridge.png"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="replace an existing picture")
    args = parser.parse_args(argv)

    import slicer

    from medlabel.io import read_seg_nrrd
    from medlabel.slicer_bridge import segmentation_node_to_labelset, volume_node_to_image
    from medlabel.slicer_bridge.headless import headless_scene
    from medlabel.viz import WINDOWS_HU, labelset_overlay_png

    scene = headless_scene()
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "CTChest4")
    reader = slicer.vtkMRMLVolumeArchetypeStorageNode()
    scene.AddNode(reader)
    reader.SetFileName(str(DATA / "CTChest4.nrrd"))
    assert reader.ReadData(volume)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Segmentation")
    seg_reader = slicer.vtkMRMLSegmentationStorageNode()
    scene.AddNode(seg_reader)
    seg_reader.SetFileName(str(DATA / "Segmentation.seg.nrrd"))
    assert seg_reader.ReadData(segmentation)

    image = volume_node_to_image(volume)
    labels = segmentation_node_to_labelset(segmentation, reference_volume=volume)
    engine = read_seg_nrrd(DATA / "Segmentation.seg.nrrd")
    equal = sum(np.array_equal(s.mask, engine[s.name].mask) for s in labels)
    legend = {s.name: f"{s.name}: {s.voxel_count} vox" for s in labels}
    slices = [8, 17, 26]
    labelset_overlay_png(
        image.array, labels, OUT, slices=slices, spacing_mm=image.spacing_mm, window=WINDOWS_HU["lung"],
        titles=[f"k={k}, z={image.slice_z_mm()[k]:.0f} mm (LPS)" for k in slices], legend=legend,
        suptitle=f"Slicer's readers → bridge → LabelSet: {len(labels)} segments, masks equal to "
                 f"medlabel.io.read_seg_nrrd: {equal}/{len(labels)}",
        direction=image.direction, force=args.force)
    print(f"wrote {OUT} ({equal}/{len(labels)} masks equal)")
    return 0 if equal == len(labels) else 1


if __name__ == "__main__":
    sys.exit(main())
