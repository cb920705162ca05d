#!/usr/bin/env python3
"""Regenerate the file lists of ``SlicerMedLabel/CMakeLists.txt`` between its GENERATED markers.

Slicer installs only the files a scripted module lists: every Python file of the main module,
of ``SlicerMedLabelLib`` and of the engine package ``medlabel`` goes into SCRIPTS, every file under
``Resources/`` into RESOURCES, and every ``SegmentEditor*`` folder with a CMakeLists.txt gets an
``add_subdirectory``. Developers add engine files all the time, so the lists are generated:

    python tools/update_cmake_lists.py          # rewrite the lists in place
    python tools/update_cmake_lists.py --check  # exit 1 and name the missing/stale entries

``Testing/Python/test_extension_layout.py`` runs the check.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODULE_DIR = "SlicerMedLabel"
MODULE_NAME = "SlicerMedLabel"
SECTIONS = ("SCRIPTS", "RESOURCES", "SUBDIRECTORIES")

_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".orig", ".rej", ".swp")
_SKIP_NAMES = {".DS_Store", ".gitkeep", "Thumbs.db"}


def _files(base: Path, pattern: str) -> list[str]:
    out = []
    for p in sorted(base.glob(pattern)):
        rel = p.relative_to(base)
        if not p.is_file() or _SKIP_PARTS & set(rel.parts) or any(part.endswith(".egg-info") for part in rel.parts):
            continue
        if p.name in _SKIP_NAMES or p.name.endswith(_SKIP_SUFFIXES):
            continue
        out.append(rel.as_posix())
    return out


def expected_lists(repo: Path = REPO) -> dict[str, list[str]]:
    """The entries each GENERATED section must hold, as CMake lines (paths relative to the module dir)."""
    module = repo / MODULE_DIR
    scripts = [f"{MODULE_NAME}.py"] if (module / f"{MODULE_NAME}.py").exists() else []
    scripts += _files(module, f"{MODULE_NAME}Lib/**/*.py")
    scripts += _files(module, "medlabel/**/*.py")
    resources = _files(module, "Resources/**/*")
    subdirs = [p.name for p in sorted(module.glob("SegmentEditor*"))
               if p.is_dir() and (p / "CMakeLists.txt").exists()]
    return {
        "SCRIPTS": scripts,
        "RESOURCES": resources,
        "SUBDIRECTORIES": [f"add_subdirectory({d})" for d in subdirs],
    }


def _section_re(section: str) -> re.Pattern:
    return re.compile(rf"(?P<begin>^(?P<indent>[ \t]*)# BEGIN GENERATED {section}[^\n]*\n)(?P<body>.*?)"
                      rf"(?P<end>^[ \t]*# END GENERATED {section}[^\n]*$)", re.M | re.S)


def current_lists(text: str) -> dict[str, list[str]]:
    """The entries now between the markers of a CMakeLists text (raises ValueError if a marker is missing)."""
    out = {}
    for section in SECTIONS:
        m = _section_re(section).search(text)
        if m is None:
            raise ValueError(f"marker '# BEGIN GENERATED {section}' ... '# END GENERATED {section}' not found")
        out[section] = [line.strip() for line in m.group("body").splitlines()
                        if line.strip() and not line.strip().startswith("#")]
    return out


def render(text: str, lists: dict[str, list[str]]) -> str:
    """``text`` with each GENERATED section replaced by ``lists`` (indentation of the BEGIN marker)."""
    for section in SECTIONS:
        pattern = _section_re(section)
        m = pattern.search(text)
        if m is None:
            raise ValueError(f"marker '# BEGIN GENERATED {section}' not found")
        body = "".join(f"{m.group('indent')}{entry}\n" for entry in lists[section])
        text = text[:m.start("body")] + body + text[m.end("body"):]
    return text


def differences(repo: Path = REPO) -> list[str]:
    """Human-readable differences between the CMake lists and the files on disk (empty when up to date)."""
    cmake = repo / MODULE_DIR / "CMakeLists.txt"
    have = current_lists(cmake.read_text())
    want = expected_lists(repo)
    problems = []
    for section in SECTIONS:
        missing = [e for e in want[section] if e not in have[section]]
        stale = [e for e in have[section] if e not in want[section]]
        if missing:
            problems.append(f"{section}: missing {', '.join(missing)}")
        if stale:
            problems.append(f"{section}: lists files that do not exist: {', '.join(stale)}")
        if not missing and not stale and have[section] != want[section]:
            problems.append(f"{section}: entries are not in sorted order")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report; exit 1 when the lists are out of date")
    args = parser.parse_args(argv)
    cmake = REPO / MODULE_DIR / "CMakeLists.txt"
    if args.check:
        problems = differences()
        for p in problems:
            print(f"{cmake.relative_to(REPO)}: {p}")
        if problems:
            print("run: python tools/update_cmake_lists.py")
        return 1 if problems else 0
    text = cmake.read_text()
    new = render(text, expected_lists())
    if new != text:
        tmp = cmake.with_suffix(".txt.tmp")
        tmp.write_text(new)
        tmp.replace(cmake)
        print(f"updated {cmake.relative_to(REPO)}")
    else:
        print(f"{cmake.relative_to(REPO)} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
