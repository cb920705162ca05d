"""SlicerMedLabel module library.

* ``<topic>_logic.py``: Qt-free logic (slicer + vtk + engine + bridge); runs in the desktop app and
  under PyPI ``slicer-core`` in the pytest suite.
* ``<Topic>Tab.py``: the widgets of one tab of the main module (qt/ctk allowed; built
  programmatically, they only gather inputs and call the logic).

Nothing here is imported eagerly: the main module imports each tab lazily so that one broken tab
cannot stop the module from loading.
"""
