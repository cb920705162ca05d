"""Static checks (AST, no Slicer) of the Slicer layer that only runs inside the desktop application.

The widget, tab and effect files cannot be executed in CI, so these tests read them and check the
classes of defect a review against Slicer's real API found:

* every method a widget or effect calls on a Qt-free logic object exists on that logic class and
  accepts the call's positional count and keyword names (a renamed logic method or argument shows
  up here, not as a traceback in front of a user);
* every ``self.ui.<name>`` of the main module exists in ``Resources/UI/SlicerMedLabel.ui`` and every
  ``SlicerParameterName`` of the .ui is a field of the ``parameterNodeWrapper`` class;
* effect classes define the hooks the scripted-effect adaptor calls, call only methods of
  ``qSlicerSegmentEditorAbstractEffect`` through ``scriptedEffect`` and pass ``qt.QPoint`` /
  ``qt.QVector3D`` to its coordinate accessors (they do not take tuples);
* the hidden effect modules register on ``startupCompleted()``;
* Qt signal signatures in ``connect("signal(args)", ...)`` exist on the widget class they are
  connected on (for the widget classes whose signals are listed below).

API references: Slicer ``qSlicerSegmentEditorAbstractEffect.h`` (Q_INVOKABLE methods and the
``xyToRas(QPoint, qMRMLSliceWidget*)`` / ``xyToIjk(QPoint, ..., vtkOrientedImageData*, transform)``
accessors returning ``QVector3D``), ``AbstractScriptedSegmentEditorEffect.py`` (the Python helpers that
wrap tuples into ``qt.QPoint``), Qt 5 class documentation for the signals.
"""

from __future__ import annotations

import ast
import inspect
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
MODULE = REPO / "SlicerMedLabel"
LIB = MODULE / "SlicerMedLabelLib"

GUI_FILES = sorted([MODULE / "SlicerMedLabel.py", LIB / "EffectRectangle.py", LIB / "EffectSelfTest.py", *LIB.glob("*Tab.py"),
                    *MODULE.glob("SegmentEditor*/SegmentEditor*Lib/SegmentEditorEffect.py")])

#: Methods of ScriptedLoadableModuleLogic (Slicer Base/Python/slicer/ScriptedLoadableModule.py) that a
#: logic class deriving from it inherits.
SCRIPTED_LOGIC_METHODS = {"getParameterNode", "getAllParameterNodes", "createParameterNode", "setDefaultParameters",
                          "moduleName", "isSingletonParameterNode", "delayDisplay", "setDelayDisplay"}

#: Methods of qSlicerSegmentEditorAbstractEffect callable from Python through ``scriptedEffect``
#: (Q_INVOKABLE, slots and Q_PROPERTY accessors of qSlicerSegmentEditorAbstractEffect.h, Slicer 5.x).
EFFECT_API = {
    "activate", "deactivate", "active", "modifySelectedSegmentByLabelmap", "modifySegmentByLabelmap",
    "applyImageMask", "createCursor", "updateGUIFromMRML", "updateMRMLFromGUI", "parameterSetNode",
    "setParameterSetNode", "scene", "optionsFrame", "optionsLayout", "addActor2D", "removeActor2D", "addActor3D",
    "removeActor3D", "addOptionsWidget", "addLabeledOptionsWidget", "name", "setName", "title", "setTitle",
    "perSegment", "setPerSegment", "requireSegments", "setRequireSegments", "cursorOff", "cursorOn",
    "selectEffect", "parameter", "integerParameter", "doubleParameter", "nodeReference", "setParameter",
    "setParameterDefault", "setCommonParameter", "setCommonParameterDefault", "setNodeReference",
    "setCommonNodeReference", "parameterDefined", "commonParameterDefined", "confirmCurrentSegmentVisible",
    "modifierLabelmap", "defaultModifierLabelmap", "maskLabelmap", "selectedSegmentLabelmap",
    "referenceGeometryImage", "sourceVolumeImageData", "saveStateForUndo", "renderWindow", "renderer",
    "viewNode", "rasToXy", "xyzToRas", "xyToRas", "xyzToIjk", "xyToIjk", "forceRender", "scheduleRender",
    "sliceSpacing", "segmentationDisplayableInView", "cleanup", "self", "setPythonSource", "register",
    "showEffectCursorInSliceView", "showEffectCursorInThreeDView",
}
#: Deprecated spellings (Slicer 5.3 renamed master -> source); using them without a fallback breaks later.
EFFECT_API_DEPRECATED = {"masterVolumeImageData": "sourceVolumeImageData"}
#: Coordinate accessors and the Qt value type their first argument must be.
COORDINATE_ACCESSORS = {"xyToRas": "QPoint", "xyToIjk": "QPoint", "xyzToRas": "QVector3D", "xyzToIjk": "QVector3D",
                        "rasToXy": "QVector3D"}
#: Hooks every scripted effect class defines (the adaptor calls them; pure virtual in C++ or shown in the GUI).
EFFECT_HOOKS = {"clone", "icon", "helpText", "setupOptionsFrame", "setMRMLDefaults", "updateGUIFromMRML",
                "updateMRMLFromGUI", "activate", "deactivate"}

#: Signals (PythonQt signature strings) of the widget classes our GUI files create (Qt 5 / CTK / qMRML docs).
_BUTTON = {"clicked()", "clicked(bool)", "toggled(bool)", "pressed()", "released()"}
SIGNALS = {
    "QPushButton": _BUTTON, "QCheckBox": _BUTTON | {"stateChanged(int)"}, "QRadioButton": _BUTTON,
    "QToolButton": _BUTTON,
    "QComboBox": {"currentIndexChanged(int)", "currentIndexChanged(QString)", "currentTextChanged(QString)",
                  "activated(int)", "activated(QString)", "editTextChanged(QString)", "highlighted(int)"},
    "QSpinBox": {"valueChanged(int)", "valueChanged(QString)", "textChanged(QString)", "editingFinished()"},
    "QDoubleSpinBox": {"valueChanged(double)", "valueChanged(QString)", "textChanged(QString)", "editingFinished()"},
    "QLineEdit": {"textChanged(QString)", "textEdited(QString)", "editingFinished()", "returnPressed()"},
    "QListWidget": {"itemChanged(QListWidgetItem*)", "itemClicked(QListWidgetItem*)", "currentRowChanged(int)",
                    "itemSelectionChanged()", "itemDoubleClicked(QListWidgetItem*)",
                    "currentItemChanged(QListWidgetItem*,QListWidgetItem*)"},
    "QSlider": {"valueChanged(int)", "sliderMoved(int)", "sliderReleased()"},
    "ctkSliderWidget": {"valueChanged(double)", "valueIsChanging(double)"},
    "ctkPathLineEdit": {"currentPathChanged(QString)", "validInputChanged(bool)"},
    "ctkCollapsibleButton": _BUTTON | {"contentsCollapsed(bool)"},
    "qMRMLNodeComboBox": {"currentNodeChanged(vtkMRMLNode*)", "currentNodeChanged(bool)",
                          "currentNodeIDChanged(QString)", "nodeAdded(vtkMRMLNode*)", "nodeActivated(vtkMRMLNode*)",
                          "nodeAddedByUser(vtkMRMLNode*)", "nodeAboutToBeRemoved(vtkMRMLNode*)"},
}


# -- helpers ----------------------------------------------------------------------------------------------
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_self_attr(node, name=None) -> bool:
    return (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"
            and (name is None or node.attr == name))


def logic_classes() -> dict[str, tuple[Path, ast.ClassDef]]:
    """Classes defined in ``SlicerMedLabelLib/*_logic.py``: name -> (file, class node)."""
    out = {}
    for path in sorted(LIB.glob("*_logic.py")):
        for node in _tree(path).body:
            if isinstance(node, ast.ClassDef):
                out[node.name] = (path, node)
    return out


def class_members(cls: ast.ClassDef, classes: dict) -> tuple[dict[str, ast.FunctionDef], set[str], bool]:
    """(methods, data attributes, inherits Slicer's ScriptedLoadableModuleLogic) of a logic class,
    following bases defined in the logic files."""
    methods: dict[str, ast.FunctionDef] = {}
    attrs: set[str] = set()
    scripted = False
    for base in cls.bases:
        name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", "")
        if name in classes:
            m, a, s = class_members(classes[name][1], classes)
            methods.update(m)
            attrs |= a
            scripted |= s
        elif name and name != "object":
            scripted = True                # _LogicBase = ScriptedLoadableModuleLogic in the application
    for node in cls.body:
        if isinstance(node, ast.FunctionDef):
            methods[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(t, ast.Name):
                    attrs.add(t.id)
    for node in ast.walk(cls):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for sub in ast.walk(t):
                    if _is_self_attr(sub):
                        attrs.add(sub.attr)
    return methods, attrs, scripted


def signature_of(func: ast.FunctionDef, *, bound: bool) -> inspect.Signature:
    """An :class:`inspect.Signature` built from a method's AST (``self`` dropped when ``bound``)."""
    a = func.args
    params = []
    positional = [*a.posonlyargs, *a.args]
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in func.decorator_list)
    for i, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        if i == 0 and bound and not static:
            continue
        kind = inspect.Parameter.POSITIONAL_ONLY if arg in a.posonlyargs else inspect.Parameter.POSITIONAL_OR_KEYWORD
        params.append(inspect.Parameter(arg.arg, kind,
                                        default=inspect.Parameter.empty if default is None else None))
    if a.vararg:
        params.append(inspect.Parameter(a.vararg.arg, inspect.Parameter.VAR_POSITIONAL))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        params.append(inspect.Parameter(arg.arg, inspect.Parameter.KEYWORD_ONLY,
                                        default=inspect.Parameter.empty if default is None else None))
    if a.kwarg:
        params.append(inspect.Parameter(a.kwarg.arg, inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(params)


def _imported_logic_names(tree: ast.Module, classes: dict) -> dict[str, str]:
    """Local name -> logic class name for ``from SlicerMedLabelLib.x_logic import Cls`` (also relative)."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1].endswith("_logic"):
            for alias in node.names:
                if alias.name in classes:
                    out[alias.asname or alias.name] = alias.name
    return out


def _bindings(tree: ast.Module, names: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(self attribute -> class, local variable -> class) for ``x = Cls(...)`` assignments; a property
    whose body sets ``self._x = Cls(...)`` binds its own name too."""
    attrs, local = {}, {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and isinstance(node.value.func, ast.Name) and node.value.func.id in names:
            cls = names[node.value.func.id]
            for t in node.targets:
                if _is_self_attr(t):
                    attrs[t.attr] = cls
                elif isinstance(t, ast.Name):
                    local[t.id] = cls
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(isinstance(d, ast.Name) and d.id == "property"
                                                     for d in node.decorator_list):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Assign) and any(_is_self_attr(t) and t.attr in attrs for t in sub.targets):
                    attrs[node.name] = attrs[next(t.attr for t in sub.targets if _is_self_attr(t))]
    return attrs, local


def logic_call_problems(path: Path, classes: dict | None = None) -> list[str]:
    """Calls and attribute reads on logic objects in a GUI file that the logic class does not support."""
    classes = logic_classes() if classes is None else classes
    tree = _tree(path)
    names = _imported_logic_names(tree, classes)
    attrs, local = _bindings(tree, names)
    calls = {id(n.func): n for n in ast.walk(tree) if isinstance(n, ast.Call)}
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        owner, bound = None, True
        if _is_self_attr(node.value) and node.value.attr in attrs:
            owner = attrs[node.value.attr]
        elif isinstance(node.value, ast.Name) and node.value.id in local:
            owner = local[node.value.id]
        elif isinstance(node.value, ast.Name) and node.value.id in names:
            owner, bound = names[node.value.id], False
        if owner is None:
            continue
        where = f"{path.relative_to(REPO)}:{node.lineno}"
        methods, data, scripted = class_members(classes[owner][1], classes)
        if node.attr not in methods:
            if node.attr in data or (scripted and node.attr in SCRIPTED_LOGIC_METHODS):
                continue
            problems.append(f"{where}: {owner} has no method or attribute '{node.attr}'")
            continue
        call = calls.get(id(node))
        if call is None:
            continue
        func = methods[node.attr]
        if any(isinstance(d, ast.Name) and d.id == "property" for d in func.decorator_list):
            continue
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            continue                       # *args / **kwargs at the call site: not checkable statically
        sig = signature_of(func, bound=bound)
        try:
            sig.bind(*range(len(call.args)), **{k.arg: None for k in call.keywords})
        except TypeError as exc:
            problems.append(f"{where}: {owner}.{node.attr}{sig} cannot take this call ({exc})")
    return problems


# -- logic calls --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", GUI_FILES, ids=[p.name if p.parent == LIB or p.parent == MODULE
                                                  else p.parent.parent.name for p in GUI_FILES])
def test_gui_calls_exist_on_the_logic_with_compatible_arguments(path):
    assert logic_call_problems(path) == []


def test_logic_call_check_catches_wrong_names_and_arguments(tmp_path):
    lib = tmp_path / "SlicerMedLabelLib"
    lib.mkdir()
    (lib / "demo_logic.py").write_text(
        "class DemoLogic:\n"
        "    def __init__(self, progress=None):\n        self.lastResult = None\n"
        "    def compute(self, volume, *, method='staple', k=None):\n        pass\n"
        "    @staticmethod\n    def setStatus(node, action):\n        pass\n")
    gui = lib / "DemoTab.py"
    gui.write_text(
        "from SlicerMedLabelLib.demo_logic import DemoLogic\n"
        "class DemoTab:\n"
        "    def __init__(self):\n        self.logic = DemoLogic(progress=None)\n"
        "    def ok(self):\n"
        "        self.logic.compute(1, method='kofn', k=2)\n        DemoLogic.setStatus(1, 'accept')\n"
        "        return self.logic.lastResult\n"
        "    def bad(self):\n"
        "        self.logic.computeAll(1)\n"                       # no such method
        "        self.logic.compute(1, 2)\n"                       # method is keyword-only
        "        self.logic.compute(1, tolerance=2)\n"             # unknown keyword
        "        DemoLogic.setStatus(1)\n"                         # missing argument
        "        return self.logic.lastResults\n")                 # no such attribute
    classes = {}
    for node in _tree(lib / "demo_logic.py").body:
        if isinstance(node, ast.ClassDef):
            classes[node.name] = (lib / "demo_logic.py", node)
    global REPO
    saved, REPO = REPO, tmp_path
    try:
        problems = logic_call_problems(gui, classes)
    finally:
        REPO = saved
    text = "\n".join(problems)
    assert len(problems) == 5, text
    assert ":10: DemoLogic has no method or attribute 'computeAll'" in text
    assert ":11: DemoLogic.compute" in text and ":12: DemoLogic.compute" in text
    assert ":13: DemoLogic.setStatus" in text
    assert "'lastResults'" in text


# -- the main module's .ui ------------------------------------------------------------------------------------
def _ui_names(path: Path) -> set[str]:
    root = ET.parse(path).getroot()
    return {e.get("name") for e in root.iter() if e.tag in ("widget", "layout", "spacer") and e.get("name")}


def test_ui_names_used_by_the_main_module_exist_in_the_ui_file():
    ui_file = MODULE / "Resources" / "UI" / "SlicerMedLabel.ui"
    names = _ui_names(ui_file)
    tree = _tree(MODULE / "SlicerMedLabel.py")
    used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and _is_self_attr(n.value, "ui")}
    pages = {e.value for n in ast.walk(tree) if isinstance(n, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == "TABS" for t in n.targets)
        for row in n.value.elts for e in row.elts[:1]}
    assert used, "SlicerMedLabel.py uses no self.ui.<name>?"
    assert sorted(used - names) == [], f"self.ui names missing from {ui_file.name}"
    assert pages and sorted(pages - names) == [], "TABS pages missing from the .ui"


def test_ui_parameter_names_are_fields_of_the_parameter_node_wrapper():
    root = ET.parse(MODULE / "Resources" / "UI" / "SlicerMedLabel.ui").getroot()
    bound = {p.find("string").text for p in root.iter("property") if p.get("name") == "SlicerParameterName"}
    tree = _tree(MODULE / "SlicerMedLabel.py")
    wrappers = [n for n in tree.body if isinstance(n, ast.ClassDef) and any(
        (isinstance(d, ast.Name) and d.id == "parameterNodeWrapper") for d in n.decorator_list)]
    assert len(wrappers) == 1
    fields = {s.target.id for s in wrappers[0].body if isinstance(s, ast.AnnAssign)}
    assert bound and bound <= fields, f"SlicerParameterName {sorted(bound - fields)} not in {sorted(fields)}"


# -- Segment Editor effects -------------------------------------------------------------------------------------
def effect_api_problems(path: Path) -> list[str]:
    """Calls through ``scriptedEffect`` that are not qSlicerSegmentEditorAbstractEffect methods, deprecated
    names without a fallback, coordinate accessors given something other than a Qt value, missing hooks."""
    tree = _tree(path)
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        target = node.func.value
        via_effect = (_is_self_attr(target, "scriptedEffect")
                      or (isinstance(target, ast.Name) and target.id in ("scriptedEffect", "clonedEffect")))
        if not via_effect:
            continue
        name, where = node.func.attr, f"{path.name}:{node.lineno}"
        if name in EFFECT_API_DEPRECATED:
            problems.append(f"{where}: scriptedEffect.{name} is deprecated; use {EFFECT_API_DEPRECATED[name]}")
        elif name not in EFFECT_API:
            problems.append(f"{where}: scriptedEffect.{name} is not a qSlicerSegmentEditorAbstractEffect method")
        if name in COORDINATE_ACCESSORS:
            first = node.args[0] if node.args else None
            wanted = COORDINATE_ACCESSORS[name]
            ok = isinstance(first, ast.Call) and getattr(first.func, "attr", getattr(first.func, "id", "")) == wanted
            if not ok:
                problems.append(f"{where}: scriptedEffect.{name} takes a qt.{wanted} (returns a QVector3D/QPoint), "
                                "not a tuple")
    for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        text = ast.unparse(func)
        if "modifySelectedSegmentByLabelmap(" in text and "confirmCurrentSegmentVisible()" not in text:
            problems.append(f"{path.name}: {func.name}() modifies the selected segment without "
                            "confirmCurrentSegmentVisible() (a hidden segment would change unseen)")
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SegmentEditorEffect"):
        defined = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
        for hook in sorted(EFFECT_HOOKS - defined):
            problems.append(f"{path.name}: SegmentEditorEffect does not define {hook}()")
        connects = any(isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "connect" for n in ast.walk(cls))
        if connects and "cleanup" not in defined:
            problems.append(f"{path.name}: SegmentEditorEffect connects Qt signals but defines no cleanup() to "
                            "disconnect them (Slicer >= 5.8 calls it before deleting the effect)")
        init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        text = ast.unparse(init) if init else ""
        if "scriptedEffect.name =" not in text or "AbstractScriptedSegmentEditor" not in text:
            problems.append(f"{path.name}: __init__ must set scriptedEffect.name and call the base __init__")
    return problems


EFFECT_FILES = sorted([*MODULE.glob("SegmentEditor*/SegmentEditor*Lib/SegmentEditorEffect.py"),
                       LIB / "EffectRectangle.py"])


@pytest.mark.parametrize("path", EFFECT_FILES, ids=[p.parent.parent.name if p.name == "SegmentEditorEffect.py"
                                                    else p.stem for p in EFFECT_FILES])
def test_effects_use_the_scripted_effect_api(path):
    assert effect_api_problems(path) == []


def test_effect_api_check_catches_tuple_coordinates_and_unknown_methods(tmp_path):
    path = tmp_path / "SegmentEditorEffect.py"
    path.write_text(
        "import qt\n"
        "class SegmentEditorEffect(AbstractScriptedSegmentEditorEffect):\n"
        "    def __init__(self, scriptedEffect):\n"
        "        AbstractScriptedSegmentEditorEffect.__init__(self, scriptedEffect)\n"
        "    def clone(self): pass\n"
        "    def go(self, xy, view):\n"
        "        self.scriptedEffect.xyToIjk(xy, view, self.scriptedEffect.masterVolumeImageData())\n"
        "        self.scriptedEffect.xyToRas(qt.QPoint(1, 2), view)\n"
        "        self.scriptedEffect.modifySelectedSegment(None, 0)\n"
        "        self.scriptedEffect.modifySelectedSegmentByLabelmap(None, 0)\n"
        "    def setupOptionsFrame(self):\n        qt.QPushButton().connect('clicked()', self.go)\n")
    text = "\n".join(effect_api_problems(path))
    assert "SegmentEditorEffect.py:7: scriptedEffect.xyToIjk takes a qt.QPoint" in text
    assert "masterVolumeImageData is deprecated" in text
    assert "modifySelectedSegment is not a qSlicerSegmentEditorAbstractEffect method" in text
    assert "go() modifies the selected segment without confirmCurrentSegmentVisible()" in text
    assert ":8:" not in text                                         # the QPoint call is fine
    assert "does not define helpText()" in text and "does not define clone()" not in text
    assert "must set scriptedEffect.name" in text
    assert "defines no cleanup()" in text


@pytest.mark.parametrize("folder", sorted(MODULE.glob("SegmentEditor*/")), ids=lambda p: p.name)
def test_hidden_effect_module_registers_on_startup_completed(folder):
    tree = _tree(folder / f"{folder.name}.py")
    text = ast.unparse(tree)
    assert "parent.hidden = True" in text
    assert "slicer.app.connect('startupCompleted()', self.registerEditorEffect)" in text
    register = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "registerEditorEffect")
    body = ast.unparse(register)
    assert "qSlicerSegmentEditorScriptedEffect(None)" in body and ".self().register()" in body
    assert "Lib/SegmentEditorEffect.py" in body
    tests = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == f"{folder.name}Test"]
    assert tests, f"{folder.name}.py has no {folder.name}Test (Slicer self-test of the effect)"
    assert "runTest" in {n.name for n in tests[0].body if isinstance(n, ast.FunctionDef)}
    cmake = (folder / "CMakeLists.txt").read_text()
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in cmake, "the self-test is not a ctest"


# -- Qt signal signatures ------------------------------------------------------------------------------------------
def _widget_classes(tree: ast.Module) -> dict[str, str]:
    """'self.x' or 'x' -> widget class for unambiguous ``x = qt.Cls()`` / ``slicer.qMRMLCls()`` assignments."""
    seen: dict[str, set[str]] = {}

    def cls_of(value):
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) \
                and isinstance(value.func.value, ast.Name) and value.func.value.id in ("qt", "ctk", "slicer"):
            return value.func.attr
        return None

    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        targets = node.targets[0].elts if isinstance(node.targets[0], ast.Tuple) else node.targets
        values = node.value.elts if isinstance(node.value, ast.Tuple) and isinstance(node.targets[0], ast.Tuple) \
            else [node.value] * len(targets)
        for t, v in zip(targets, values, strict=True):
            key = f"self.{t.attr}" if _is_self_attr(t) else t.id if isinstance(t, ast.Name) else None
            if key:
                seen.setdefault(key, set()).add(cls_of(v))
    return {k: next(iter(v)) for k, v in seen.items() if len(v) == 1 and None not in v}


def signal_problems(path: Path) -> list[str]:
    tree = _tree(path)
    widgets = _widget_classes(tree)
    pairs = []                             # (widget expression, signal string, line)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "connect" \
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            pairs.append((ast.unparse(node.func.value), node.args[0].value, node.lineno))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "_connect" and len(node.args) >= 2 \
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
            pairs.append((ast.unparse(node.args[0]), node.args[1].value, node.lineno))   # effect helper
        if isinstance(node, ast.For) and isinstance(node.iter, ast.Tuple):   # for w, signal in ((w, "sig"), ...)
            for row in node.iter.elts:
                if isinstance(row, ast.Tuple) and len(row.elts) == 2 and isinstance(row.elts[1], ast.Constant) \
                        and isinstance(row.elts[1].value, str) and "(" in row.elts[1].value:
                    pairs.append((ast.unparse(row.elts[0]), row.elts[1].value, row.lineno))
    problems = []
    for expr, signal, line in pairs:
        cls = widgets.get(expr)
        if cls in SIGNALS and signal.replace(" ", "") not in SIGNALS[cls]:
            problems.append(f"{path.name}:{line}: {cls} {expr} has no signal {signal}")
    return problems


@pytest.mark.parametrize("path", GUI_FILES, ids=[p.name if p.parent == LIB or p.parent == MODULE
                                                  else p.parent.parent.name for p in GUI_FILES])
def test_connected_signals_exist_on_the_widget_class(path):
    assert signal_problems(path) == []


def test_signal_check_catches_a_wrong_signature(tmp_path):
    path = tmp_path / "Tab.py"
    path.write_text("import qt\nclass T:\n    def __init__(self):\n"
                    "        self.spin = qt.QDoubleSpinBox()\n        self.check = qt.QCheckBox()\n"
                    "        self.spin.connect('valueChanged(int)', print)\n"
                    "        for w, s in ((self.check, 'toggled(int)'), (self.spin, 'valueChanged(double)')):\n"
                    "            w.connect(s, print)\n"
                    "        self._connect(self.spin, 'valueChanged(QString)', print)\n"
                    "        self._connect(self.check, 'valueChanged(int)', print)\n")
    problems = signal_problems(path)
    assert len(problems) == 3, problems
    assert "Tab.py:10: QCheckBox self.check has no signal valueChanged(int)" in problems[2]
    assert "QDoubleSpinBox self.spin has no signal valueChanged(int)" in problems[0] + problems[1]
    assert "QCheckBox self.check has no signal toggled(int)" in problems[0] + problems[1]


# -- load-time imports of the tabs' and effects' logic ---------------------------------------------------------
#: packages Slicer does not ship (it bundles numpy, scipy, vtk, SimpleITK, pydicom: Slicer SuperBuild
#: External_python-*.cmake); torch comes from the PyTorch extension.
NOT_IN_SLICER = ["pandas", "skimage", "torch", "cv2", "maxflow", "highdicom", "openpyxl", "nrrd", "nibabel",
                 "matplotlib", "monai", "tqdm"]


def _loaded_packages(modules: list[str]) -> str:
    import subprocess
    import sys

    code = ("import sys; sys.path.insert(0, sys.argv[1]); import importlib; "
            f"[importlib.import_module(m) for m in {modules!r}]; "
            f"print(','.join(sorted(m for m in {NOT_IN_SLICER!r} if m in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code, str(MODULE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_every_logic_module_imports_without_packages_slicer_lacks():
    """Tabs are built when the module opens and import their logic then: a logic file that imports pandas
    (or another package installed on first use) at load time replaces the whole tab by an error message
    in a fresh Slicer; effects would fail before ``ensure_packages`` can ask. Import the engine parts
    that need such packages inside the methods (after the widget called ``ensure_packages``)."""
    modules = [f"SlicerMedLabelLib.{p.stem}" for p in sorted(LIB.glob("*_logic.py"))]
    assert "SlicerMedLabelLib.review_logic" in modules
    assert _loaded_packages(modules) == "", "imported at load time by SlicerMedLabelLib/*_logic.py"


def test_load_time_import_check_sees_pandas():
    assert _loaded_packages(["medlabel.review.consensus"]) == "pandas"


# -- packages installed on first use -----------------------------------------------------------------------------
#: Logic methods that need only what Slicer ships (numpy, vtk, MRML): calling them needs no ensure_packages.
NEEDS_NO_PACKAGES = {"sliceIndexAtRas", "sliceRasZ", "annotatorOf", "removePreview", "thinAxis", "rasToIjk"}


def ensure_problems(path: Path, classes: dict | None = None) -> list[str]:
    """``tryWithErrorDisplay`` blocks that call the logic without ``ensure_packages`` before (in the block
    or earlier in the same function), unless the logic method ensures the packages itself."""
    classes = logic_classes() if classes is None else classes
    tree = _tree(path)
    names = _imported_logic_names(tree, classes)
    attrs, local = _bindings(tree, names)
    problems = []

    def ensures(node) -> bool:
        return any(isinstance(n, ast.Call) and getattr(n.func, "attr", getattr(n.func, "id", "")) in
                   ("ensure_packages", "_ensurePackages") for n in ast.walk(node))

    def method_ensures(owner: str, name: str, seen=()) -> bool:
        """The logic method calls ensure_packages itself or through a ``self._helper()`` of its class."""
        method = class_members(classes[owner][1], classes)[0].get(name)
        if method is None or name in seen:
            return False
        if ensures(method):
            return True
        return any(isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and _is_self_attr(c.func)
                   and method_ensures(owner, c.func.attr, (*seen, name)) for c in ast.walk(method))

    for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        before_ok = False
        for stmt in func.body:
            if isinstance(stmt, ast.With) and any("tryWithErrorDisplay" in ast.unparse(i.context_expr)
                                                  for i in stmt.items):
                ok = before_ok or ensures(stmt)
                for n in ast.walk(stmt):
                    if not (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)):
                        continue
                    owner = None
                    if _is_self_attr(n.func.value) and n.func.value.attr in attrs:
                        owner = attrs[n.func.value.attr]
                    elif isinstance(n.func.value, ast.Name) and n.func.value.id in {**local, **names}:
                        owner = {**local, **names}[n.func.value.id]
                    if owner is None or n.func.attr in NEEDS_NO_PACKAGES or ok:
                        continue
                    if method_ensures(owner, n.func.attr):
                        continue
                    problems.append(f"{path.name}:{n.lineno}: {func.name}() calls {owner}.{n.func.attr} without "
                                    "ensure_packages() first")
            before_ok = before_ok or ensures(stmt)
    return problems


@pytest.mark.parametrize("path", GUI_FILES, ids=[p.name if p.parent == LIB or p.parent == MODULE
                                                  else p.parent.parent.name for p in GUI_FILES])
def test_gui_handlers_ensure_packages_before_calling_the_logic(path):
    assert ensure_problems(path) == []


def test_ensure_check_catches_a_handler_without_it(tmp_path):
    lib = tmp_path / "SlicerMedLabelLib"
    lib.mkdir()
    (lib / "demo_logic.py").write_text("class DemoLogic:\n    def compute(self):\n        pass\n"
                                       "    def export(self):\n        self._write()\n"
                                       "    def _write(self):\n        ensure_packages(['openpyxl'])\n")
    classes = {"DemoLogic": (lib / "demo_logic.py", _tree(lib / "demo_logic.py").body[0])}
    gui = lib / "DemoTab.py"
    gui.write_text("from SlicerMedLabelLib.demo_logic import DemoLogic\nclass T:\n"
                   "    def __init__(self):\n        self.logic = DemoLogic()\n"
                   "    def onBad(self):\n        with slicer.util.tryWithErrorDisplay('x'):\n"
                   "            self.logic.compute()\n"
                   "    def onGood(self):\n        with slicer.util.tryWithErrorDisplay('x'):\n"
                   "            ensure_packages()\n            self.logic.compute()\n"
                   "    def onExport(self):\n        with slicer.util.tryWithErrorDisplay('x'):\n"
                   "            self.logic.export()\n")
    assert ensure_problems(gui, classes) == ["DemoTab.py:7: onBad() calls DemoLogic.compute without "
                                             "ensure_packages() first"]


# -- engine, bridge and helper functions called from GUI files ------------------------------------------------------
def function_call_problems(path: Path) -> list[str]:
    """Calls of functions imported from ``medlabel`` / ``SlicerMedLabelLib`` (checked against the real
    function's signature; importing them needs slicer-core for the bridge) that cannot bind."""
    import importlib

    tree = _tree(path)
    functions = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        module = ("SlicerMedLabelLib." if node.level else "") + (node.module or "")
        if module.split(".")[0] not in ("medlabel", "SlicerMedLabelLib"):
            continue
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:       # only Qt-importing widget modules are not importable here
            if exc.name not in ("qt", "ctk"):
                raise
            continue
        for alias in node.names:
            obj = getattr(mod, alias.name, None)
            if obj is None:
                functions[alias.asname or alias.name] = None
            elif inspect.isfunction(obj):
                functions[alias.asname or alias.name] = inspect.signature(obj)
    problems = [f"{path.name}: imports {name}, which does not exist" for name, sig in functions.items() if sig is None
                and not name[:1].isupper()]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and functions.get(node.func.id):
            if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                continue
            sig = functions[node.func.id]
            try:
                sig.bind(*range(len(node.args)), **{k.arg: None for k in node.keywords})
            except TypeError as exc:
                problems.append(f"{path.name}:{node.lineno}: {node.func.id}{sig} cannot take this call ({exc})")
    return problems


@pytest.mark.parametrize("path", GUI_FILES, ids=[p.name if p.parent == LIB or p.parent == MODULE
                                                  else p.parent.parent.name for p in GUI_FILES])
def test_engine_and_bridge_functions_called_from_gui_files_accept_the_call(path):
    assert function_call_problems(path) == []


def test_function_call_check_catches_a_wrong_keyword(tmp_path):
    path = tmp_path / "Tab.py"
    path.write_text("def f(node):\n"
                    "    from medlabel.slicer_bridge import labelset_to_segmentation_node, no_such_function\n"
                    "    labelset_to_segmentation_node(None, None, node, name='x')\n"
                    "    labelset_to_segmentation_node(None, referenceVolume=node)\n")
    problems = function_call_problems(path)
    assert len(problems) == 2, problems
    assert "imports no_such_function" in problems[0]
    assert "Tab.py:4: labelset_to_segmentation_node" in problems[1]


# -- widgets used before they are created ------------------------------------------------------------------------
BUILD_METHODS = {"__init__", "setup", "setupOptionsFrame"}


def _walk_now(node):
    """ast.walk without the bodies of lambdas and nested functions (they run later, e.g. as slots)."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        todo.extend(c for c in ast.iter_child_nodes(n) if not isinstance(c, ast.Lambda | ast.FunctionDef))


def use_before_creation_problems(path: Path) -> list[str]:
    """In a class's build method (``__init__``, ``setup``, ``setupOptionsFrame``), ``self.<x>`` read - directly
    or inside a method of the class called from there - before the build method assigns it."""
    tree = _tree(path)
    problems = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        methods = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
        for build in (methods[m] for m in BUILD_METHODS if m in methods):
            assigned_later = {t.attr for n in ast.walk(build) if isinstance(n, ast.Assign | ast.AnnAssign)
                              for tt in (n.targets if isinstance(n, ast.Assign) else [n.target])
                              for t in ast.walk(tt) if _is_self_attr(t)}
            done: set[str] = set()
            for stmt in build.body:
                reads = []
                called = {id(c.func) for c in _walk_now(stmt) if isinstance(c, ast.Call)}
                for n in _walk_now(stmt):
                    if isinstance(n, ast.Attribute) and _is_self_attr(n) and isinstance(n.ctx, ast.Load):
                        reads.append((n.attr, n.lineno, None))
                        if n.attr in methods and n.attr not in BUILD_METHODS and id(n) in called:
                            reads += [(m.attr, n.lineno, n.attr) for m in ast.walk(methods[n.attr])
                                      if isinstance(m, ast.Attribute) and _is_self_attr(m)
                                      and isinstance(m.ctx, ast.Load)]
                stores = {t.attr for n in ast.walk(stmt) if isinstance(n, ast.Assign | ast.AnnAssign)
                          for tt in (n.targets if isinstance(n, ast.Assign) else [n.target])
                          for t in ast.walk(tt) if _is_self_attr(t)}
                for attr, line, via in reads:
                    if attr in assigned_later and attr not in done and attr not in stores and attr not in methods:
                        how = f" (in {via}())" if via else ""
                        problems.append(f"{path.name}:{line}: {cls.name}.{build.name} reads self.{attr}{how} "
                                        "before creating it")
                done |= stores
    return problems


ALL_GUI_FILES = sorted({*GUI_FILES, *MODULE.glob("SegmentEditor*/SegmentEditor*.py")})


@pytest.mark.parametrize("path", ALL_GUI_FILES, ids=[p.name if p.parent == LIB or p.parent == MODULE
                                                      else p.parent.name + "/" + p.name for p in ALL_GUI_FILES])
def test_widgets_are_created_before_use(path):
    assert use_before_creation_problems(path) == []


def test_use_before_creation_check(tmp_path):
    path = tmp_path / "Tab.py"
    path.write_text("class T:\n    def __init__(self):\n        self.spin = 2\n"
                    "        self.spin.connect('clicked()', lambda: self.refresh())\n"   # runs later: fine
                    "        self.refresh()\n        self.label = 1\n        self.spin.value = self.label\n"
                    "    def refresh(self):\n        self.label.text = ''\n")
    assert use_before_creation_problems(path) == ["Tab.py:5: T.__init__ reads self.label (in refresh()) before "
                                                  "creating it"]
