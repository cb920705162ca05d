"""One exception family for the engine: every message names the file/tag/parameter and the fix."""

from __future__ import annotations


class MedLabelError(Exception):
    """Base class of every error the engine raises on purpose."""


class InputError(MedLabelError, ValueError):
    """A bad argument or parameter value (wrong shape, out-of-range option, unknown name)."""


class ReadError(MedLabelError, OSError):
    """A file or folder could not be read as what it was expected to be."""


class DicomError(ReadError):
    """A DICOM series/file problem: no image series, non-image object, broken series."""


class GeometryError(MedLabelError, ValueError):
    """Two grids (image, mask, segmentation) do not match and cannot be made to match."""


class MissingTagError(MedLabelError, KeyError):
    """A DICOM tag or metadata value needed for a computation is absent; supply it by hand."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class OutputExistsError(MedLabelError, FileExistsError):
    """An output file exists and ``force`` was not given; nothing was overwritten."""


class MissingDependencyError(MedLabelError, ImportError):
    """An optional package (torch, cv2, maxflow, ...) is missing; the message says how to install it."""


class RegistryError(MedLabelError, KeyError):
    """Unknown or duplicate name in a registry (models, reference sets)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def require(module: str, install_hint: str | None = None):
    """Import ``module`` lazily; raise :class:`MissingDependencyError` with the install step if absent."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        hint = install_hint or f"pip install {module}"
        raise MissingDependencyError(
            f"The optional package '{module}' is needed here but is not installed ({exc}). Install it with: {hint}"
        ) from exc
