"""Pytest fixtures for tests that need MRML nodes (PyPI ``slicer-core``, no Slicer application).

Use in a test file::

    import bridge_fixtures

    mrml_scene = bridge_fixtures.mrml_scene   # makes the fixture visible to pytest in this module

    def test_something(mrml_scene):
        node = mrml_scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")

slicer-core is a declared test dependency (``pip install -e ".[slicer]"``): a missing one fails.
``mrml_scene`` is a fresh ``vtkMRMLScene`` wired like the application (``slicer.mrmlScene`` and the
``slicer.modules.volumes/segmentations`` logics set), cleared after the test.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def mrml_scene():
    """A fresh, wired headless MRML scene (see :func:`medlabel.slicer_bridge.headless.headless_scene`)."""
    from medlabel.slicer_bridge.headless import headless_scene

    scene = headless_scene()
    yield scene
    scene.Clear(True)
