"""`medlabel` command line: one sub-command per module in :data:`COMMAND_MODULES`.

Each command module defines ``register(subparsers) -> None`` that adds its parser and sets
``func=run`` where ``run(args) -> int``. Errors of the :class:`MedLabelError` family are printed
as one clear line (exit code 2); anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__
from .errors import MedLabelError

#: sub-command modules, in the order shown by ``--help``
COMMAND_MODULES: list[str] = [
    "medlabel.commands.info",
    "medlabel.commands.demo",
    "medlabel.commands.consensus",
    "medlabel.commands.pet_stats",
    "medlabel.commands.autolabel",
    "medlabel.commands.pseudolabel",
    "medlabel.commands.train",
    "medlabel.commands.bodycomp",
    "medlabel.commands.backproject",
    "medlabel.commands.grabcut",
    "medlabel.commands.export",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medlabel",
        description="SlicerMedLabel engine: label CT/PET, review annotators, measure body composition.",
    )
    parser.add_argument("--version", action="version", version=f"medlabel {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details (warnings are always shown)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except MedLabelError as exc:
        print(f"medlabel {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
