"""The model registry: an explicit object listing the models a user can pick, each with its card.

:func:`default_registry` fills one with (1) the rule-based body-composition labeler when
:mod:`medlabel.bodycomp` provides it, (2) the networks shipped in ``SlicerMedLabel/Resources/Models``
and (3) models the user trained, found as ``*.card.json`` files in the user's model folders
(``MEDLABEL_MODELS`` environment variable, ``os.pathsep``-separated, default ``~/.medlabel/models``).
Tests build their own registries; nothing here is a global that a test has to reset.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import MedLabelError, RegistryError
from .cards import CARD_SUFFIX, ModelCard

log = logging.getLogger(__name__)

#: Folder of the models shipped with the extension.
SHIPPED_MODELS_DIR = Path(__file__).resolve().parents[2] / "Resources" / "Models"
USER_MODELS_ENV = "MEDLABEL_MODELS"


def user_models_dirs() -> list[Path]:
    """Folders scanned for user-trained models (``$MEDLABEL_MODELS`` or ``~/.medlabel/models``)."""
    env = os.environ.get(USER_MODELS_ENV)
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path.home() / ".medlabel" / "models"]


@dataclass
class RegistryEntry:
    """One registered model: its card, where it came from, and a factory that loads it."""

    card: ModelCard
    source: str  # "built-in", "shipped" or "user"
    factory: Callable[[], object]

    @property
    def name(self) -> str:
        return self.card.name


class ModelRegistry:
    """Named auto-label models. Duplicate names raise; unknown names list the known ones.

    Parameters
    ----------
    description : str
        What the registry holds (used in messages).
    """

    def __init__(self, description: str = "auto-label model") -> None:
        self.description = description
        self._entries: dict[str, RegistryEntry] = {}
        self._loaded: dict[str, object] = {}
        #: problems met while scanning folders (broken card, duplicate name): shown by the Models tab
        self.problems: list[str] = []

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __str__(self) -> str:
        lines = [f"{len(self)} {self.description}(s):"]
        lines += [f"  {e.name} ({e.source}, {e.card.kind}, v{e.card.version}) - {e.card.description}"
                  for e in self._entries.values()]
        return "\n".join(lines)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def register(self, card: ModelCard, factory: Callable[[], object], *, source: str) -> RegistryEntry:
        """Add a model; raise :class:`RegistryError` when the name is taken."""
        if card.name in self._entries:
            first = self._entries[card.name]
            raise RegistryError(
                f"{self.description} name {card.name!r} is already registered (from {first.source}"
                f"{', ' + str(first.card.path) if first.card.path else ''}); rename the model in its card "
                f"{card.path or ''} (field 'name')")
        entry = RegistryEntry(card, source, factory)
        self._entries[card.name] = entry
        return entry

    def entry(self, name: str) -> RegistryEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise RegistryError(f"unknown {self.description} {name!r}; known: "
                                f"{', '.join(self.names) or '(none: no models found)'}") from None

    def card(self, name: str) -> ModelCard:
        return self.entry(name).card

    def cards(self) -> list[ModelCard]:
        return [e.card for e in self._entries.values()]

    def get(self, name: str):
        """The loaded model (loaded once, then cached; torch weights are hash-checked on load)."""
        entry = self.entry(name)
        if name not in self._loaded:
            self._loaded[name] = entry.factory()
        return self._loaded[name]

    def register_card_file(self, path: str | Path, *, source: str = "user") -> RegistryEntry:
        """Register the torch model described by a card file (weights are checked when first used)."""
        from .models import TorchUNetModel

        card = ModelCard.read(path)
        return self.register(card, lambda: TorchUNetModel(card), source=source)

    def scan(self, folders: Iterable[str | Path], *, source: str = "user") -> list[str]:
        """Register every ``*.card.json`` found (non-recursively, plus one sub-folder level) in ``folders``.

        Broken cards and duplicate names do not stop the scan: they are logged and appended to
        :attr:`problems`. Returns the names added.
        """
        added = []
        for folder in folders:
            folder = Path(folder)
            if not folder.is_dir():
                continue
            files = sorted(folder.glob(f"*{CARD_SUFFIX}")) + sorted(folder.glob(f"*/*{CARD_SUFFIX}"))
            for f in files:
                try:
                    added.append(self.register_card_file(f, source=source).name)
                except MedLabelError as exc:
                    msg = f"model card {f} skipped: {exc}"
                    log.warning(msg)
                    self.problems.append(msg)
        return added


def default_registry(*, user_dirs: Iterable[str | Path] | None = None, shipped_dir: str | Path | None = None,
                     include_rule_based: bool = True) -> ModelRegistry:
    """A registry with the rule-based labeler (if available), the shipped networks and the user's models.

    Parameters
    ----------
    user_dirs : iterable of path, optional
        Folders with user-trained models; default :func:`user_models_dirs`.
    shipped_dir : path, optional
        Folder of shipped models; default :data:`SHIPPED_MODELS_DIR`.
    include_rule_based : bool
        Register ``rule-based-bodycomp`` when :mod:`medlabel.bodycomp` is present.
    """
    reg = ModelRegistry()
    if include_rule_based:
        from .rule_based import register_rule_based

        register_rule_based(reg)
    reg.scan([shipped_dir or SHIPPED_MODELS_DIR], source="shipped")
    reg.scan(user_models_dirs() if user_dirs is None else user_dirs, source="user")
    return reg
