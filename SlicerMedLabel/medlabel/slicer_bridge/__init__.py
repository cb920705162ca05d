"""Bridge between the engine's values and Slicer's MRML nodes (the only engine part importing slicer/vtk).

Nothing else in :mod:`medlabel` imports this package; Slicer modules, logic files and tests do, e.g.::

    from medlabel.slicer_bridge import image_to_volume_node, segmentation_node_to_labelset

Geometry is exact: the engine keeps LPS (DICOM) coordinates, Slicer RAS; IJKToRAS is the engine's
IJK→LPS matrix with the first two rows negated. Under PyPI ``slicer-core`` (no application) call
:func:`medlabel.slicer_bridge.headless.headless_scene` first to get a wired ``slicer.mrmlScene``.
"""

from .headless import headless_scene
from .oriented import array_to_oriented_image, oriented_image_to_image, update_oriented_image_from_array
from .segmentations import labelset_to_segmentation_node, segment_tags, segmentation_node_to_labelset
from .tables import dataframe_to_table_node, table_node_to_dataframe
from .volumes import geometry_from_ijk_to_ras, ijk_to_ras_of, image_to_volume_node, volume_node_to_image

__all__ = [
    "array_to_oriented_image",
    "oriented_image_to_image",
    "update_oriented_image_from_array",
    "dataframe_to_table_node",
    "geometry_from_ijk_to_ras",
    "headless_scene",
    "ijk_to_ras_of",
    "image_to_volume_node",
    "labelset_to_segmentation_node",
    "segment_tags",
    "segmentation_node_to_labelset",
    "table_node_to_dataframe",
    "volume_node_to_image",
]
