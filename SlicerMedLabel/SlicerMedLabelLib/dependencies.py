"""Python packages the engine needs that the Slicer application does not ship; installed on first use.

Slicer bundles numpy, vtk, SimpleITK and pydicom; the rest of the engine's dependencies are
installed when an action first needs them, after the user agrees — never while the module loads
(a failing import at load time would make the module vanish). torch is not installed here: inside
Slicer it comes from the PyTorch extension (``PyTorchUtils``).

Qt-free: the confirmation and installation steps are callables, so tests run under slicer-core.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable

from medlabel.errors import MissingDependencyError

#: import name → pip requirement (same lower bounds as pyproject.toml's dependencies)
REQUIREMENTS: dict[str, str] = {
    "scipy": "scipy>=1.11",
    "pandas": "pandas>=2.0",
    "openpyxl": "openpyxl>=3.1",
    "nrrd": "pynrrd>=1.0",
    "nibabel": "nibabel>=5.0",
    "highdicom": "highdicom>=0.23",
    "pylibjpeg": "pylibjpeg>=2.0",
    "openjpeg": "pylibjpeg-openjpeg>=2.3",
    "skimage": "scikit-image>=0.22",
    "matplotlib": "matplotlib>=3.8",
    "maxflow": "PyMaxflow>=1.3",
    "tqdm": "tqdm>=4.66",
}

#: what loading/saving images, segmentations and tables needs (the main module's Data section)
CORE_MODULES: tuple[str, ...] = ("scipy", "pandas", "openpyxl", "nrrd", "nibabel", "highdicom", "pylibjpeg",
                                 "openjpeg")


def missing_packages(modules: Iterable[str]) -> list[str]:
    """Import names among ``modules`` that cannot be imported here (no import is executed)."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def ensure_packages(modules: Iterable[str] = CORE_MODULES, *, confirm: Callable[[str], bool] | None = None,
                    install: Callable[[list[str]], None] | None = None) -> list[str]:
    """Install the missing ones of ``modules`` with ``install(requirements)`` after ``confirm(message)``.

    Parameters
    ----------
    modules : iterable of str
        Import names (keys of :data:`REQUIREMENTS`).
    confirm : callable(message) -> bool, optional
        Asks the user; default inside Slicer: ``slicer.util.confirmOkCancelDisplay``.
    install : callable(list of requirement strings), optional
        Default inside Slicer: ``slicer.util.pip_install``.

    Returns
    -------
    list of str
        The requirements that were installed (empty when nothing was missing).

    Raises
    ------
    MissingDependencyError
        When packages are missing and there is no installer (outside Slicer), the user declines, or
        an import name is unknown; the message gives the pip command.
    """
    modules = list(modules)
    unknown = [m for m in modules if m not in REQUIREMENTS]
    if unknown:
        raise MissingDependencyError(f"unknown package(s) {', '.join(unknown)}; known: {', '.join(sorted(REQUIREMENTS))}")
    missing = missing_packages(modules)
    if not missing:
        return []
    requirements = [REQUIREMENTS[m] for m in missing]
    command = "pip install " + " ".join(f'"{r}"' for r in requirements)
    if install is None or confirm is None:
        import slicer

        if getattr(slicer, "app", None) is None:
            raise MissingDependencyError(f"missing Python packages {', '.join(missing)}; install them with: {command}")
        confirm = confirm or slicer.util.confirmOkCancelDisplay
        install = install or slicer.util.pip_install
    message = (f"SlicerMedLabel needs these Python packages, which are not installed: {', '.join(requirements)}.\n"
               "Install them now? (This downloads them from PyPI; it may take a minute.)")
    if not confirm(message):
        raise MissingDependencyError(f"missing Python packages {', '.join(missing)}; install them from Slicer's "
                                     f"Python console with: slicer.util.pip_install({requirements!r})")
    install(requirements)
    still = missing_packages(missing)
    if still:
        raise MissingDependencyError(f"installing {', '.join(requirements)} did not make {', '.join(still)} importable; "
                                     "restart Slicer and try again")
    return requirements
