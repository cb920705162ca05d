"""Layout of the Slicer extension: CMake lists up to date, layering of imports, effect pattern, ruff.

These tests read files only (no Slicer needed). When the CMake test fails, run
``python tools/update_cmake_lists.py`` from the repository root.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
MODULE = REPO / "SlicerMedLabel"
ENGINE = MODULE / "medlabel"
GUI_MODULES = {"qt", "ctk", "PythonQt"}
SLICER_MODULES = {"slicer", "vtk", "vtkmodules", "qt", "ctk", "PythonQt", "mrml", "SlicerMedLabelLib"}
HEAVY_MODULES = {"torch", "cv2", "maxflow", "monai"}


def _load_tool():
    spec = importlib.util.spec_from_file_location("update_cmake_lists", REPO / "tools" / "update_cmake_lists.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def imported_modules(path: Path, *, top_level_only: bool = False) -> list[tuple[int, str]]:
    """(line, absolute-or-relative module name) of every import in a file (inside functions too unless
    ``top_level_only``). Relative imports keep their dots, e.g. '..slicer_bridge'."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{a.name}" if base.strip(".") else base + a.name) for a in node.names]
    return out


# -- CMake ----------------------------------------------------------------------------------------------
def test_cmake_lists_are_up_to_date():
    problems = _load_tool().differences(REPO)
    assert not problems, "SlicerMedLabel/CMakeLists.txt is out of date (run python tools/update_cmake_lists.py):\n" \
        + "\n".join(problems)


def test_update_tool_names_missing_and_stale_files_and_fixes_them(tmp_path):
    tool = _load_tool()
    repo = tmp_path / "repo"
    (repo / "SlicerMedLabel" / "medlabel").mkdir(parents=True)
    (repo / "SlicerMedLabel" / "SlicerMedLabelLib").mkdir()
    (repo / "SlicerMedLabel" / "Resources" / "Icons").mkdir(parents=True)
    shutil.copy(MODULE / "CMakeLists.txt", repo / "SlicerMedLabel" / "CMakeLists.txt")
    for rel in ("SlicerMedLabel.py", "medlabel/__init__.py", "SlicerMedLabelLib/main_logic.py",
                "Resources/Icons/SlicerMedLabel.png"):
        (repo / "SlicerMedLabel" / rel).write_text("")
    cmake = repo / "SlicerMedLabel" / "CMakeLists.txt"
    cmake.write_text(tool.render(cmake.read_text(), tool.expected_lists(repo)))
    assert tool.differences(repo) == []
    # a developer adds an engine file, a new effect and removes a tab file
    (repo / "SlicerMedLabel" / "medlabel" / "review").mkdir()
    (repo / "SlicerMedLabel" / "medlabel" / "review" / "staple.py").write_text("")
    (repo / "SlicerMedLabel" / "medlabel" / "__pycache__").mkdir()
    (repo / "SlicerMedLabel" / "medlabel" / "__pycache__" / "x.cpython-311.pyc").write_text("")
    (repo / "SlicerMedLabel" / "SegmentEditorGrabCut").mkdir()
    (repo / "SlicerMedLabel" / "SegmentEditorGrabCut" / "CMakeLists.txt").write_text("")
    (repo / "SlicerMedLabel" / "SlicerMedLabelLib" / "main_logic.py").unlink()
    problems = "\n".join(tool.differences(repo))
    assert "missing medlabel/review/staple.py" in problems
    assert "add_subdirectory(SegmentEditorGrabCut)" in problems
    assert "do not exist: SlicerMedLabelLib/main_logic.py" in problems
    assert "pyc" not in problems
    cmake.write_text(tool.render(cmake.read_text(), tool.expected_lists(repo)))
    assert tool.differences(repo) == []
    text = cmake.read_text()
    assert "  medlabel/review/staple.py\n" in text and "add_subdirectory(SegmentEditorGrabCut)\n" in text


def test_top_level_cmake_is_a_slicer_extension():
    text = (REPO / "CMakeLists.txt").read_text()
    for var in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS"):
        assert re.search(rf"^set\(EXTENSION_{var} ", text, re.M), f"EXTENSION_{var} missing"
    assert 'set(EXTENSION_CATEGORY "Segmentation")' in text
    assert 'set(EXTENSION_DEPENDS "NA")' in text
    assert 'MINIMUM_SLICER_VERSION "5.10"' in text
    order = ["project(SlicerMedLabel)", "find_package(Slicer REQUIRED)", "include(${Slicer_USE_FILE})",
             "add_subdirectory(SlicerMedLabel)", "include(${Slicer_EXTENSION_GENERATE_CONFIG})",
             "include(${Slicer_EXTENSION_CPACK})"]
    positions = [text.find(s) for s in order]
    assert all(p >= 0 for p in positions), [s for s, p in zip(order, positions, strict=True) if p < 0]
    assert positions == sorted(positions), "CMake statements are out of order"
    icon_rel = re.search(r"EXTENSION_ICONURL \"\$\{SlicerMedLabel_RAW_URL\}/([^\"]+)\"", text).group(1)
    assert (REPO / icon_rel).is_file(), f"icon URL points to a file that is not in the repository: {icon_rel}"
    shots = re.search(r"EXTENSION_SCREENSHOTURLS \"([^\"]+)\"", text).group(1).split()
    assert shots
    for url in shots:
        rel = url.removeprefix("${SlicerMedLabel_RAW_URL}/")
        assert rel != url and (REPO / rel).is_file(), f"screenshot URL points to a file not in the repository: {url}"


def test_module_cmake_builds_the_scripted_module_and_its_tests():
    text = (MODULE / "CMakeLists.txt").read_text()
    assert "set(MODULE_NAME SlicerMedLabel)" in text
    assert re.search(r"slicerMacroBuildScriptedModule\(\s*NAME \$\{MODULE_NAME\}\s*SCRIPTS \$\{MODULE_PYTHON_SCRIPTS\}"
                     r"\s*RESOURCES \$\{MODULE_PYTHON_RESOURCES\}\s*WITH_GENERIC_TESTS", text)
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text
    assert "add_subdirectory(Testing)" in text
    assert "add_subdirectory(Python)" in (MODULE / "Testing" / "CMakeLists.txt").read_text()
    py_cmake = (MODULE / "Testing" / "Python" / "CMakeLists.txt").read_text()
    scripts = re.findall(r"SCRIPT\s+(\S+\.py)", py_cmake)
    assert scripts and "slicer_add_python_unittest" in py_cmake
    for s in scripts:
        assert (MODULE / "Testing" / "Python" / s).is_file(), f"Testing/Python/CMakeLists.txt names missing {s}"
        assert not s.startswith("test_"), f"{s}: Slicer unittests must not be collected by pytest"


# -- layering -------------------------------------------------------------------------------------------
def _engine_files_outside_bridge() -> list[Path]:
    return [p for p in sorted(ENGINE.rglob("*.py"))
            if "slicer_bridge" not in p.relative_to(ENGINE).parts and "__pycache__" not in p.parts]


def layering_violations(files: list[Path], forbidden: set[str], *, bridge: bool) -> list[str]:
    """'file:line imports X' for every import of a forbidden top-level module (or of the bridge)."""
    out = []
    for path in files:
        for line, name in imported_modules(path):
            top = name.lstrip(".").split(".")[0]
            bad = (not name.startswith(".") and top in forbidden) or \
                (bridge and ("slicer_bridge" in name.split(".")))
            if bad:
                shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
                out.append(f"{shown}:{line} imports {name}")
    return sorted(set(out))


def test_engine_outside_bridge_imports_no_slicer_vtk_qt_ctk():
    files = _engine_files_outside_bridge()
    assert len(files) >= 5
    assert layering_violations(files, SLICER_MODULES, bridge=True) == []


def test_layering_check_catches_violations(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy\n\ndef f():\n    import vtk\n    from ..slicer_bridge import volumes\n"
                   "    from qt import QWidget\n")
    found = "\n".join(layering_violations([bad], SLICER_MODULES, bridge=True))
    assert "bad.py:4 imports vtk" in found and "bad.py:5 imports ..slicer_bridge" in found
    assert "bad.py:6 imports qt" in found and "numpy" not in found
    assert layering_violations([bad], GUI_MODULES, bridge=False) == [f"{bad}:6 imports qt", f"{bad}:6 imports qt.QWidget"]


def _logic_files() -> list[Path]:
    return sorted(p for p in MODULE.rglob("*_logic.py") if "__pycache__" not in p.parts)


def test_logic_files_do_not_import_qt_or_ctk():
    files = _logic_files()
    assert MODULE / "SlicerMedLabelLib" / "main_logic.py" in files
    assert layering_violations(files, GUI_MODULES, bridge=False) == []


# -- Segment Editor effects ----------------------------------------------------------------------------
def effect_problems(folder: Path) -> list[str]:
    """What an effect folder lacks compared with Slicer's scripted-effect pattern (empty when fine)."""
    name = folder.name
    problems = []
    required = ["CMakeLists.txt", f"{name}.py", f"{name}Lib/__init__.py", f"{name}Lib/SegmentEditorEffect.py",
                f"Resources/Icons/{name}.png"]
    for rel in required:
        if not (folder / rel).is_file():
            problems.append(f"{name}: missing {rel}")
    cmake = folder / "CMakeLists.txt"
    if cmake.is_file():
        text = cmake.read_text().replace("${MODULE_NAME}", name)
        if "slicerMacroBuildScriptedModule" not in text:
            problems.append(f"{name}: CMakeLists.txt does not call slicerMacroBuildScriptedModule")
        for p in sorted(folder.rglob("*")):
            rel = p.relative_to(folder).as_posix()
            if p.is_file() and p.suffix in (".py", ".png", ".ui") and "__pycache__" not in rel \
                    and rel != "CMakeLists.txt" and rel not in text and not rel.startswith("Testing/"):
                problems.append(f"{name}: CMakeLists.txt does not list {rel}")
    module_file = folder / f"{name}.py"
    if module_file.is_file():
        text = module_file.read_text()
        if "qSlicerSegmentEditorScriptedEffect" not in text or "SegmentEditorEffect.py" not in text:
            problems.append(f"{name}: {name}.py does not register {name}Lib/SegmentEditorEffect.py "
                            "with qSlicerSegmentEditorScriptedEffect")
    effect_file = folder / f"{name}Lib" / "SegmentEditorEffect.py"
    if effect_file.is_file():
        tree = ast.parse(effect_file.read_text())
        if not any(isinstance(n, ast.ClassDef) and n.name == "SegmentEditorEffect" for n in tree.body):
            problems.append(f"{name}: SegmentEditorEffect.py defines no class SegmentEditorEffect")
        heavy = [n for _, n in imported_modules(effect_file, top_level_only=True) if n.split(".")[0] in HEAVY_MODULES]
        if heavy:
            problems.append(f"{name}: SegmentEditorEffect.py imports {', '.join(heavy)} at load time; import "
                            "heavy packages inside the functions that use them")
    return problems


EFFECT_FOLDERS = sorted(p for p in MODULE.glob("SegmentEditor*") if p.is_dir())


@pytest.mark.parametrize("folder", EFFECT_FOLDERS, ids=[p.name for p in EFFECT_FOLDERS])
def test_effect_folder_follows_slicer_pattern(folder):
    assert effect_problems(folder) == []


def test_effect_check_catches_an_incomplete_folder(tmp_path):
    folder = tmp_path / "SegmentEditorBroken"
    (folder / "SegmentEditorBrokenLib").mkdir(parents=True)
    (folder / "CMakeLists.txt").write_text("slicerMacroBuildScriptedModule(NAME ${MODULE_NAME}\n"
                                           "  SCRIPTS ${MODULE_NAME}.py)\n")
    (folder / "SegmentEditorBroken.py").write_text("print('no registration')\n")
    (folder / "SegmentEditorBrokenLib" / "SegmentEditorEffect.py").write_text("import torch\nclass Other: pass\n")
    problems = "\n".join(effect_problems(folder))
    assert "missing SegmentEditorBrokenLib/__init__.py" in problems
    assert "missing Resources/Icons/SegmentEditorBroken.png" in problems
    assert "does not list SegmentEditorBrokenLib/SegmentEditorEffect.py" in problems
    assert "does not register" in problems
    assert "no class SegmentEditorEffect" in problems
    assert "imports torch at load time" in problems


# -- main module files ---------------------------------------------------------------------------------
def test_main_module_defines_slicer_classes_and_tabs():
    tree = ast.parse((MODULE / "SlicerMedLabel.py").read_text())
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    for cls in ("SlicerMedLabel", "SlicerMedLabelWidget", "SlicerMedLabelTest"):
        assert cls in classes, f"SlicerMedLabel.py lacks class {cls}"
    ui = ET.parse(MODULE / "Resources" / "UI" / "SlicerMedLabel.ui").getroot()
    tabs = ui.findall(".//widget[@class='QTabWidget']")
    assert len(tabs) == 1
    pages = [w for w in tabs[0].findall("widget")]
    titles = [p.find("attribute[@name='title']/string").text for p in pages]
    assert titles[:4] == ["Review", "Body composition", "Models", "Export"]
    # every page's object name appears in the module's TABS table (page → tab class)
    source = (MODULE / "SlicerMedLabel.py").read_text()
    for p in pages:
        assert f'"{p.get("name")}"' in source, f"page {p.get('name')} is not populated by SlicerMedLabel.py"


def test_icon_is_a_128_pixel_png():
    import matplotlib.image as mpimg

    icon = mpimg.imread(MODULE / "Resources" / "Icons" / "SlicerMedLabel.png")
    assert icon.shape[:2] == (128, 128)
    assert icon[..., :3].std() > 0.05  # not a blank square


def test_repository_is_ruff_clean():
    ruff = Path(sys.executable).with_name("ruff")
    cmd = [str(ruff)] if ruff.exists() else [sys.executable, "-m", "ruff"]
    result = subprocess.run([*cmd, "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_module_import_needs_only_what_slicer_ships():
    """Importing the main logic and the bridge must not pull packages Slicer lacks (a failing import at
    load time makes the module vanish); they are imported where used and installed on first use."""
    not_in_slicer = ["pandas", "scipy", "skimage", "torch", "cv2", "maxflow", "highdicom", "openpyxl", "nrrd",
                     "nibabel", "matplotlib", "monai", "tqdm"]
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import SlicerMedLabelLib.main_logic, "
            "SlicerMedLabelLib.dependencies, medlabel.slicer_bridge; "
            f"print(','.join(sorted(m for m in {not_in_slicer!r} if m in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code, str(MODULE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"imported at module load: {result.stdout.strip()}"
