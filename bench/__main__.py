"""``python -m bench <command>`` (also the ``segpic-bench`` script).

Commands are modules with ``add_arguments(parser)`` and ``main(args) -> int``; a command
whose module cannot be imported yet is left out.  Mistakes a user can fix
(:class:`~bench.errors.UserError`, :class:`~bench.codecs.CodecError`, missing files)
end with one ``error: ...`` line on stderr and exit status 2, without a traceback.
"""
from __future__ import annotations

import argparse
import importlib
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
}


def _load_commands():
    loaded = {}
    for name, (module, help_text) in COMMANDS.items():
        try:
            loaded[name] = (importlib.import_module(module), help_text)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
    return loaded


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .codecs import CodecError

    parser = argparse.ArgumentParser(prog="python -m bench", description="segpic-bench: learned image compression benchmark")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = {}
    for name, (module, help_text) in _load_commands().items():
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
        modules[name] = module
    args = parser.parse_args(argv)
    try:
        return modules[args.command].main(args)
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


if __name__ == "__main__":
    sys.exit(main())
