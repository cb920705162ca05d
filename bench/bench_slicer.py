"""Benchmark the MRML bridge against slicer.util's own numpy helpers (same run, same data).

    python bench/bench_slicer.py            (from the repository root; or `make bench` → run_all.py)

Data: the synthetic L3 phantom as a 24 × 512 × 512 int16 slab (0.8 × 0.8 × 3 mm) with its 8 truth
segments (two of them overlap other segments), on an oblique grid (20° about z) so geometry matters.
Peers (slicer-core 5.11, the functions Slicer users call from the Python console):
  volume → node : slicer.util.addVolumeFromArray(array, ijkToRAS)
  node → array  : slicer.util.arrayFromVolume(node).copy() (+ GetIJKToRASMatrix)
  masks → node  : AddEmptySegment + slicer.util.updateSegmentBinaryLabelmapFromArray per segment
  node → masks  : slicer.util.arrayFromSegmentBinaryLabelmap per segment
Times are the median of 3 runs, in seconds. The machine is shared by several developers, so the CPU
is loaded by others and absolute times vary; compare the ratios.
"""

from __future__ import annotations

import sys

import numpy as np
import slicer
import vtk
from benchcommon import median_time  # puts SlicerMedLabel/ on sys.path

from medlabel.image import Image
from medlabel.phantom import make_l3_phantom
from medlabel.slicer_bridge import (
    image_to_volume_node,
    labelset_to_segmentation_node,
    segmentation_node_to_labelset,
    volume_node_to_image,
)
from medlabel.slicer_bridge.headless import headless_scene

REPEATS = 3


def timed(fn):
    return median_time(fn, REPEATS)


def main() -> int:
    scene = headless_scene()
    image, truth = make_l3_phantom((24, 512, 512), (3.0, 0.8, 0.8), seed=0)
    theta = np.deg2rad(20)
    direction = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    image = Image(image.array, image.spacing_mm, image.origin_lps, direction, image.meta)
    truth = type(truth)(image, [s.copy() for s in truth])
    rows = []

    # volume → node
    def peer_volume():
        return slicer.util.addVolumeFromArray(image.array, image.ijk_to_ras_matrix(), name="peer")

    def ours_volume():
        return image_to_volume_node(image, name="ours")

    t_peer, peer_node = timed(peer_volume)
    t_ours, our_node = timed(ours_volume)
    m_peer, m_ours = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
    peer_node.GetIJKToRASMatrix(m_peer)
    our_node.GetIJKToRASMatrix(m_ours)
    dm = max(abs(m_peer.GetElement(r, c) - m_ours.GetElement(r, c)) for r in range(4) for c in range(4))
    same = np.array_equal(slicer.util.arrayFromVolume(peer_node), slicer.util.arrayFromVolume(our_node))
    rows.append(("volume → node", t_peer, t_ours, f"voxels equal: {same}; max |ΔIJKToRAS| {dm:.1e}"))

    # node → array/Image
    t_peer, peer_arr = timed(lambda: slicer.util.arrayFromVolume(peer_node).copy())
    t_ours, back = timed(lambda: volume_node_to_image(peer_node))
    ok = np.array_equal(back.array, peer_arr) and back.same_geometry(image, tol_mm=1e-6)
    rows.append(("node → Image", t_peer, t_ours, f"voxels + geometry equal: {ok}"))

    # masks → segmentation node
    def peer_segments():
        node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "peer")
        node.SetReferenceImageGeometryParameterFromVolumeNode(our_node)
        for s in truth:
            seg_id = node.GetSegmentation().AddEmptySegment(s.id, s.name, list(s.color))
            slicer.util.updateSegmentBinaryLabelmapFromArray(s.mask.astype(np.uint8), node, seg_id, our_node)
        return node

    t_peer, peer_seg = timed(peer_segments)
    t_ours, our_seg = timed(lambda: labelset_to_segmentation_node(truth, reference_volume=our_node, name="ours"))
    rows.append(("LabelSet → segmentation", t_peer, t_ours, f"{len(truth)} segments"))

    # segmentation node → masks (both read the peer-built node)
    def peer_masks():
        return {s.name: slicer.util.arrayFromSegmentBinaryLabelmap(peer_seg, s.id, our_node).astype(bool) for s in truth}

    t_peer, masks = timed(peer_masks)
    t_ours, ls = timed(lambda: segmentation_node_to_labelset(peer_seg, reference_volume=our_node))
    exact_peer = sum(np.array_equal(masks[s.name], s.mask) for s in truth)
    exact_ours = sum(np.array_equal(ls[s.name].mask, s.mask) for s in truth)
    rows.append(("segmentation → masks", t_peer, t_ours,
                 f"masks equal to truth: peer {exact_peer}/{len(truth)}, ours {exact_ours}/{len(truth)}"))

    from importlib.metadata import version

    print(f"MRML bridge vs slicer.util helpers (slicer-core {version('slicer-core')}, vtk {vtk.vtkVersion.GetVTKVersion()})")
    print(f"phantom {image.shape} int16, {len(truth)} segments; median of {REPEATS} runs; shared, loaded CPU\n")
    print(f"{'operation':26s} {'peer s':>8s} {'ours s':>8s} {'peer/ours':>10s}  accuracy")
    for name, tp, to, acc in rows:
        print(f"{name:26s} {tp:8.3f} {to:8.3f} {tp / to:10.2f}  {acc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
