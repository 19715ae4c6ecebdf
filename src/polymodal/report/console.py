"""Rich tables the CLI and the demo print: a table's summary and a comparison of candidates.

Each takes the console to print to, so a quiet console (tests, library use) prints nothing."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table as RichTable


def print_summary(console: Console, summary) -> None:
    """A table summary (inspect_table.summarize): schema, splits, labels, problems."""
    console.print(f"[bold]{summary.schema.source}[/]: {summary.rows} rows")
    t = RichTable("column", "role", "present", "missing", "why", title="Schema")
    for c in summary.schema.columns:
        present = summary.present.get(c.name, summary.rows - summary.missing[c.name])
        t.add_row(c.name, c.role, str(present), str(summary.missing[c.name]), c.reason)
    console.print(t)
    if summary.splits:
        console.print("splits: " + ", ".join(f"{k}={v}" for k, v in sorted(summary.splits.items())))
    for label, dist in summary.labels.items():
        shown = ", ".join(f"{k}: {v}" for k, v in list(dist.items())[:30])
        more = f" ... ({len(dist)} classes)" if len(dist) > 30 else f" ({len(dist)} classes)"
        console.print(f"label [bold]{label}[/]: {shown}{more}")
    if not summary.problems:
        console.print("[green]no problems found[/]")
        return
    console.print(f"[red]{len(summary.problems)} problem(s):[/]")
    for p in summary.problems[:50]:
        console.print(f"  - {p}", markup=False)
    if summary.skipped_path:
        console.print(f"reasons written to {summary.skipped_path}")


def print_comparison(console: Console, df, monitor: str, title: str = "Candidates") -> None:
    """A DataFrame of candidates or runs, floats to 4 places."""
    t = RichTable(*[str(c) for c in df.columns], title=f"{title} (monitor: {monitor})" if monitor else title)
    for row in df.itertuples(index=False):
        t.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console.print(t)
