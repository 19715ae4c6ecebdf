"""What every command shares: the console, the column-role flags, and plain `warning:` lines."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table as RichTable

console = Console(width=None if sys.stdout.isatty() else 200)  # pipes and logs get whole tables
ROLE_FLAGS = ("image", "audio", "video", "text", "numeric", "categorical", "ignore")


def add_schema_flags(p: argparse.ArgumentParser, *, label: bool = True, on_error: str | None = None) -> None:
    """--label, --image COL (repeatable) and friends, --schema YAML, --on-error. `on_error=None`: left
    out, the job's own default applies."""
    if label:
        p.add_argument("--label", action="append", metavar="COL", help="label column (repeat for several)")
    for role in ROLE_FLAGS:
        p.add_argument(f"--{role}", action="append", metavar="COL", help=f"treat COL as {role}")
    p.add_argument("--schema", metavar="YAML", help="YAML of role: [columns] overrides")
    p.add_argument("--on-error", choices=("error", "skip"), default=on_error,
                   help="bad rows: stop and list them all (default), or skip them into skipped.csv")


def overrides(args: argparse.Namespace) -> dict[str, str]:
    """The role flags and --schema YAML as column -> role."""
    from ..schema import load_overrides

    out = load_overrides(args.schema) if getattr(args, "schema", None) else {}
    for role in ROLE_FLAGS:
        for col in getattr(args, role, None) or []:
            out[col] = role
    return out


def print_metrics(metrics: dict, title: str) -> None:
    t = RichTable("metric", "value", title=title)
    for k, v in metrics.items():
        t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    console.print(t)


def plain_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A user's warnings as `warning: ...` lines, without the source file and line Python adds."""
    print(f"warning: {message}", file=sys.stderr if file is None else file)
