"""The `polymodal` command. Thin over the API: parse arguments, call it, print the result.

One module per command (or group of commands); each registers its parser with `add_parser(sub)` and
holds its `cmd_*` function. `fit` and `align` share jobs.py: flags left out reach no job, so every
default is the job's own."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from .. import __version__
from ..errors import PolymodalError
from . import (
    align,
    cache,
    caption,
    cluster,
    data,
    demo,
    distill,
    evaluate,
    explain,
    features,
    fit,
    fusions,
    generate,
    index,
    inspect,
    predict,
    runs,
    serve,
    table,
)
from .common import console, plain_warning

COMMANDS = (inspect, data, fusions, fit, distill, generate, align, index, caption, evaluate, predict, explain, cluster,
            runs, cache, features, table, serve, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polymodal", description="Multimodal learning on your own table.")
    parser.add_argument("--version", action="version", version=f"polymodal {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _show_messages() -> None:
    """The library's messages (logging.getLogger("polymodal"), INFO and up) as plain lines on stderr."""
    logger = logging.getLogger("polymodal")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


class _NotATerminal:
    """A stream that says it is no terminal, else the same stream."""

    def __init__(self, stream):
        self._stream = stream

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _quiet_other_ranks() -> str:
    """Under torchrun, ranks other than 0 print nothing but their errors (rank 0 reports the fit); returns the
    prefix of this rank's error lines ("" on rank 0 or outside torchrun)."""
    import os

    if os.environ.get("WORLD_SIZE", "1") in ("", "1") or os.environ.get("RANK", "0") == "0":
        return ""
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    sys.stderr = _NotATerminal(sys.stderr)  # progress bars show only where stderr is a terminal: on rank 0
    console.quiet = True
    logging.getLogger("polymodal").setLevel(logging.ERROR)
    return f"rank {os.environ['RANK']}: "


def _end_process_group(finished: bool) -> None:
    """Under torchrun: after a command that finished, wait for every rank before closing the connections (one rank
    closing while another still talks aborted it once, in gloo's C++: "terminate called without an active
    exception"); after a failure, close at once (torchrun stops the other ranks)."""
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        if finished:
            torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _show_messages()
    rank = _quiet_other_ranks()
    shown = warnings.showwarning
    warnings.showwarning = plain_warning
    code = None
    try:
        code = args.func(args)
        return code
    except PolymodalError as exc:
        print(f"{rank}error: {exc}", file=sys.stderr)  # plain: paths must not be wrapped or styled
        return 2
    except OSError as exc:  # a write that no module named (a plot, a table): the disk, if that is the cause
        from ..runs.files import storage_error

        named = storage_error(exc)
        if named is None:
            raise
        print(f"error: {named}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return 130
    finally:
        warnings.showwarning = shown
        _end_process_group(code == 0)
