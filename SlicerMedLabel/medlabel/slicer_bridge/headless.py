"""A headless MRML scene wired like the Slicer application does it, for tests and scripts.

``slicer-core`` (PyPI) gives the MRML classes and module logics but no application: there is no
``slicer.app``, no ``slicer.mrmlScene`` and no ``slicer.modules``. :func:`headless_scene` creates a
scene, an application logic, the colour / volumes / segmentations logics (the segmentations logic
registers the representation converters), sets ``slicer.mrmlScene`` and a minimal
``slicer.modules`` namespace so the ``slicer.util`` helpers (``arrayFromVolume``,
``arrayFromSegmentBinaryLabelmap``, ``updateSegmentBinaryLabelmapFromArray``, ...) work.

Inside the Slicer desktop application the real scene exists already; :func:`headless_scene` then
returns ``slicer.mrmlScene`` unchanged.

Examples
--------
>>> from medlabel.slicer_bridge.headless import headless_scene
>>> scene = headless_scene()
>>> node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
>>> node.GetScene() is scene
True
"""

from __future__ import annotations

import types

import slicer

__all__ = ["headless_scene", "in_slicer_app", "segmentations_logic", "volumes_logic"]


def in_slicer_app() -> bool:
    """True inside the Slicer desktop application (``slicer.app`` exists), False under slicer-core."""
    return getattr(slicer, "app", None) is not None


def headless_scene():
    """Create a fresh ``vtkMRMLScene`` wired to the module logics and make it ``slicer.mrmlScene``.

    Returns
    -------
    vtkMRMLScene
        The new scene (also set as ``slicer.mrmlScene``). Its wiring is kept alive as the Python
        attribute ``scene.medlabel_logics`` (a ``SimpleNamespace`` with ``app``, ``colors``,
        ``volumes`` and ``segmentations``).

    Notes
    -----
    Every call replaces ``slicer.mrmlScene`` and ``slicer.modules``; tests therefore get an isolated
    scene each time. Inside the desktop application nothing is replaced and the application's scene
    is returned.
    """
    if in_slicer_app():
        return slicer.mrmlScene
    scene = slicer.vtkMRMLScene()
    app = slicer.vtkSlicerApplicationLogic()
    app.SetMRMLScene(scene)
    app.GetColorLogic().SetMRMLScene(scene)
    app.GetColorLogic().AddDefaultColorNodes()

    def register(logic, name: str):
        logic.SetMRMLScene(scene)
        logic.SetMRMLApplicationLogic(app)
        app.SetModuleLogic(name, logic)
        return logic

    colors = register(slicer.vtkMRMLColorLogic(), "Colors")
    volumes = register(slicer.vtkSlicerVolumesLogic(), "Volumes")
    segmentations = register(slicer.vtkSlicerSegmentationsModuleLogic(), "Segmentations")
    slicer.mrmlScene = scene
    slicer.modules = types.SimpleNamespace(
        segmentations=types.SimpleNamespace(logic=lambda: segmentations),
        volumes=types.SimpleNamespace(logic=lambda: volumes),
        colors=types.SimpleNamespace(logic=lambda: colors),
    )
    scene.medlabel_logics = types.SimpleNamespace(app=app, colors=colors, volumes=volumes,
                                                  segmentations=segmentations)
    return scene


def volumes_logic():
    """The volumes module logic of the current scene (desktop app or :func:`headless_scene`)."""
    return slicer.modules.volumes.logic()


def segmentations_logic():
    """The segmentations module logic of the current scene (desktop app or :func:`headless_scene`)."""
    return slicer.modules.segmentations.logic()
