"""``python -m bench <command>`` (also the ``segpic-bench`` script).

Commands are modules with ``add_arguments(parser)`` and ``main(args) -> int``, listed in
:data:`COMMANDS`; a command whose module is not there yet is left out.  Only the module of
the command being run is imported, so a quick command does not pay for another's heavy
imports.  Mistakes a user can fix (:class:`~bench.errors.UserError`,
:class:`~bench.codecs.CodecError`, missing files) end with one ``error: ...`` line on
stderr and exit status 2, without a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from typing import Optional, Sequence

from .errors import UserError

#: command -> (module, one-line help)
COMMANDS = {
    "run": ("bench.run", "code a dataset with codecs and record per-image results"),
    "datasets": ("bench.datasets", "list or fetch the test image sets"),
    "bdrate": ("bench.tables", "BD-rate tables from result curves"),
    "plot": ("bench.plots", "rate-distortion plots"),
    "regress": ("bench.regress", "compare results against golden results"),
    "report": ("bench.report", "one self-contained HTML page: BD-rate tables, RD curves, decoded images"),
    "metrics": ("bench.metrics.command", "add metric columns to results from their stored bitstreams"),
}


def _present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .codecs.base import CodecError

    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {name: spec for name, spec in COMMANDS.items() if _present(spec[0])}
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = argparse.ArgumentParser(prog="python -m bench",
                                     description="segpic-bench: learned image compression benchmark")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    module = None
    for name, (module_name, help_text) in commands.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(command_parser)
    args = parser.parse_args(argv)
    args.argv = argv  # the command line, for what records it (bench report's provenance)
    try:
        return module.main(args)
    except (UserError, CodecError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError) as err:
        if isinstance(err, OSError) and err.filename:
            message = f"{err.strerror}: {err.filename}"
        else:
            message = str(err)
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. ``head``, which stopped reading
        sys.stdout = open(os.devnull, "w")
        return 141


if __name__ == "__main__":
    sys.exit(main())
