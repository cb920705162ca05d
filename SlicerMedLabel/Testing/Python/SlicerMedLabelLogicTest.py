"""Slicer-run unit tests (ctest: py_SlicerMedLabelLogicTest) of the Qt-free logic in the real application.

The pytest suite checks the same logic under PyPI slicer-core; this file checks it against the
application's own loaders (``slicer.util.loadVolume`` / ``loadSegmentation`` / ``saveNode``), which
slicer-core lacks. Run inside Slicer:
``Slicer --python-code "import slicer.testing; slicer.testing.runUnitTest(['<this folder>'], 'SlicerMedLabelLogicTest')"``.
"""

import os
import tempfile
import unittest

import numpy as np
import slicer


class SlicerMedLabelLogicTest(unittest.TestCase):
    def setUp(self):
        slicer.mrmlScene.Clear()
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def test_oblique_volume_roundtrip_through_slicer_io(self):
        """An oblique, anisotropic Image written by the engine loads in Slicer at the same RAS positions."""
        from medlabel.image import Image
        from medlabel.io import write_image
        from medlabel.slicer_bridge import image_to_volume_node, volume_node_to_image

        theta = np.deg2rad(20)
        direction = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
        rng = np.random.default_rng(0)
        image = Image(rng.integers(-1000, 1000, (4, 5, 6)).astype(np.int16), (2.5, 0.7, 0.9), (10.0, -20.0, 30.0),
                      direction)
        path = write_image(image, os.path.join(self.tmp.name, "oblique.nrrd"))
        loaded = slicer.util.loadVolume(str(path))
        back = volume_node_to_image(loaded)
        self.assertTrue(np.array_equal(back.array, image.array))
        self.assertTrue(back.same_geometry(image, tol_mm=1e-4))
        ours = image_to_volume_node(image, name="ours")
        self.assertTrue(np.allclose(slicer.util.arrayFromVolume(ours), slicer.util.arrayFromVolume(loaded)))

    def test_phantom_segmentation_saved_by_logic_opens_in_slicer(self):
        from medlabel.phantom import make_l3_phantom
        from SlicerMedLabelLib.main_logic import SlicerMedLabelLogic

        logic = SlicerMedLabelLogic()
        volume, segmentation = logic.addPhantom(shape=(1, 256, 256), spacingMm=(3.0, 1.6, 1.6), seed=1)
        _, truth = make_l3_phantom((1, 256, 256), (3.0, 1.6, 1.6), seed=1)
        path = logic.saveSegmentation(segmentation, os.path.join(self.tmp.name, "truth.seg.nrrd"))
        loaded = slicer.util.loadSegmentation(str(path))
        seg = loaded.GetSegmentation()
        self.assertEqual(seg.GetNumberOfSegments(), len(truth))
        for segment in truth:
            segment_id = seg.GetSegmentIdBySegmentName(segment.name)
            self.assertTrue(segment_id, segment.name)
            array = slicer.util.arrayFromSegmentBinaryLabelmap(loaded, segment_id, volume).astype(bool)
            self.assertTrue(np.array_equal(array, segment.mask), segment.name)
            self.assertEqual(seg.GetSegment(segment_id).GetTerminology(), segment.terminology.to_slicer())

    def test_segmentation_saved_by_slicer_reads_in_logic(self):
        from SlicerMedLabelLib.main_logic import SlicerMedLabelLogic

        logic = SlicerMedLabelLogic()
        volume, segmentation = logic.addPhantom(shape=(1, 256, 256), spacingMm=(3.0, 1.6, 1.6), seed=2)
        path = os.path.join(self.tmp.name, "slicer.seg.nrrd")
        self.assertTrue(slicer.util.saveNode(segmentation, path))
        reloaded = logic.loadSegmentation(path, referenceVolume=volume)
        a = logic.segmentationToLabelSet(segmentation, volume)
        b = logic.segmentationToLabelSet(reloaded, volume)
        self.assertEqual(a.names, b.names)
        for sa, sb in zip(a, b, strict=True):
            self.assertTrue(np.array_equal(sa.mask, sb.mask), sa.name)
            self.assertEqual(sa.tags, sb.tags)
