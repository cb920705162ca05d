"""First-use installation of packages Slicer lacks (SlicerMedLabelLib/dependencies.py)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from medlabel.errors import MissingDependencyError
from SlicerMedLabelLib import dependencies as dep

REPO = Path(__file__).resolve().parents[3]


def test_requirements_match_pyproject():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ \[]", d)[0].lower(): d for d in declared}
    for module, requirement in dep.REQUIREMENTS.items():
        name = re.split(r"[<>=!~ ]", requirement)[0].lower()
        assert name in names, f"{requirement} (import {module}) is not a dependency in pyproject.toml"
        assert names[name] == requirement, f"{requirement} differs from pyproject.toml's {names[name]}"


def test_nothing_missing_means_nothing_installed():
    calls = []
    assert dep.ensure_packages(["pandas", "scipy"], confirm=lambda m: calls.append(m) or True,
                               install=calls.append) == []
    assert calls == []


def test_missing_package_is_installed_after_confirmation(monkeypatch):
    installed: list[list[str]] = []
    state = {"present": False}
    monkeypatch.setattr(dep, "missing_packages",
                        lambda modules: [] if state["present"] else [m for m in modules if m == "maxflow"])

    def install(requirements):
        installed.append(requirements)
        state["present"] = True

    asked = []
    out = dep.ensure_packages(["maxflow", "pandas"], confirm=lambda m: asked.append(m) or True, install=install)
    assert out == ["PyMaxflow>=1.3"] and installed == [["PyMaxflow>=1.3"]]
    assert "PyMaxflow>=1.3" in asked[0]


def test_declined_or_headless_gives_the_pip_command(monkeypatch):
    monkeypatch.setattr(dep, "missing_packages", lambda modules: list(modules))
    with pytest.raises(MissingDependencyError, match=r"slicer.util.pip_install\(\['pynrrd>=1.0'\]\)"):
        dep.ensure_packages(["nrrd"], confirm=lambda m: False, install=lambda r: None)
    with pytest.raises(MissingDependencyError, match='pip install "pynrrd>=1.0"'):
        dep.ensure_packages(["nrrd"])  # slicer-core: no application, no installer
    with pytest.raises(MissingDependencyError, match="unknown package"):
        dep.ensure_packages(["torch"])


def test_failed_install_is_reported(monkeypatch):
    monkeypatch.setattr(dep, "missing_packages", lambda modules: list(modules))
    with pytest.raises(MissingDependencyError, match="restart Slicer"):
        dep.ensure_packages(["tqdm"], confirm=lambda m: True, install=lambda r: None)


def test_missing_packages_finds_real_absence():
    assert dep.missing_packages(["pandas", "medlabel_no_such_module_xyz"]) == ["medlabel_no_such_module_xyz"]
