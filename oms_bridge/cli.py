"""``oms-bridge`` command line: one sub-command per module in ``oms_bridge.commands``.

Each command module exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``; they are imported lazily so ``oms-bridge replay`` never
pays for aiohttp and ``serve`` never for matplotlib.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from oms_bridge import __version__
from oms_bridge.errors import OmsBridgeError

__all__ = ["main"]

COMMANDS: tuple[str, ...] = ("serve", "replay", "simulate")


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"oms_bridge.commands.{name}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oms-bridge", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"oms-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules: dict[str, ModuleType] = {}
    for name in COMMANDS:
        try:
            module = _load(name)
        except ModuleNotFoundError as exc:
            if exc.name != f"oms_bridge.commands.{name}":
                raise
            continue
        modules[name] = module
        module.add_arguments(sub.add_parser(name, help=module.HELP, description=module.HELP))
    args = parser.parse_args(argv)
    try:
        return int(modules[args.command].run(args))
    except OmsBridgeError as exc:
        print(f"oms-bridge {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
