"""Which column is which: detect each column's role from its content, with overrides.

Roles: `image`, `audio`, `video` (file paths), `text` (free text), `numeric`,
`categorical`, `label` (what to predict), `split` (train/val/test), `id` and
`ignore`. Detection looks at values, not names, except for `split` and `id`
where the name is the convention. Explicit choices always win.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from .data.table import Table, read_table, resolve_path
from .errors import TableError

IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
AUDIO_EXT = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".au"}
VIDEO_EXT = {".gif", ".npy"}
ROLES = ("image", "audio", "video", "text", "numeric", "categorical", "label", "split", "id", "ignore")
MODALITY_ROLES = ("image", "audio", "video", "text", "numeric", "categorical", "tabular")
TABULAR_ROLES = ("numeric", "categorical")  # the roles a `tabular` group gathers (schema.group_tabular)
FILE_ROLES = ("image", "audio", "video")  # cells that hold file paths
SPLIT_VALUES = {"train", "val", "valid", "validation", "dev", "test"}
PATH_SHARE = 0.8  # share of non-empty cells with a media extension for a column to count as paths


@dataclass(frozen=True)
class Column:
    name: str
    role: str
    reason: str
    members: tuple[str, ...] = ()  # a `tabular` group's columns: the group is one modality, they are none


@dataclass
class Schema:
    """The roles of a table's columns, in table order."""

    columns: list[Column]
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def names(self, *roles: str) -> list[str]:
        return [c.name for c in self.columns if c.role in roles]

    @property
    def labels(self) -> list[str]:
        return self.names("label")

    @property
    def modalities(self) -> dict[str, str]:
        """Input columns -> their role, sorted by column name (the batch key order). A `tabular` group is one
        modality; its member columns are not modalities of their own."""
        grouped = self.grouped
        return {c.name: c.role for c in sorted(self.columns, key=lambda c: c.name)
                if c.role in MODALITY_ROLES and c.name not in grouped}

    @property
    def grouped(self) -> set[str]:
        """The columns inside a `tabular` group."""
        return {m for c in self.columns for m in c.members}

    def members(self, name: str) -> tuple[str, ...]:
        """A group's member columns, or `(name,)` for a plain column."""
        return next((c.members for c in self.columns if c.name == name and c.members), (name,))

    def role(self, name: str) -> str:
        for c in self.columns:
            if c.name == name:
                return c.role
        raise TableError(f"column {name!r} is not in the schema; columns: {', '.join(c.name for c in self.columns)}")

    def to_dict(self) -> dict:
        return {"source": self.source, "columns": [{"name": c.name, "role": c.role, "reason": c.reason,
                                                    **({"members": list(c.members)} if c.members else {})}
                                                   for c in self.columns]}

    @classmethod
    def from_dict(cls, d: dict) -> Schema:
        return cls([Column(c["name"], c["role"], c.get("reason", ""), tuple(c.get("members", ())))
                    for c in d["columns"]], d.get("source", ""))


TABULAR = "tabular"  # the group's name (with a trailing "_" per clash with a real column)


def group_tabular(schema: Schema, columns: list[str], minimum: int = 2) -> Schema:
    """`schema` with the numeric and categorical columns among `columns` gathered into one `tabular` group
    (one modality, one encoder, one presence mask), when there are at least `minimum` of them; else unchanged."""
    members = tuple(c for c in columns if schema.role(c) in TABULAR_ROLES)
    if len(members) < max(1, minimum) or any(c.role == "tabular" for c in schema.columns):
        return schema
    name = TABULAR
    while name in {c.name for c in schema.columns}:
        name += "_"
    group = Column(name, "tabular", f"{len(members)} numeric and categorical columns as one modality", members)
    return Schema([*schema.columns, group], schema.source, list(schema.notes))


def with_group_cells(table: Table, schema: Schema) -> Table:
    """`table` with each `tabular` group's cell per row: `{member: value}` over the member columns it has,
    or None when they are all empty (the group is then absent from the row)."""
    groups = [c for c in schema.columns if c.members]
    if not groups:
        return table
    df = table.df.copy()
    for group in groups:
        present = [m for m in group.members if m in df.columns]
        records = df[present].to_dict("records") if present else [{} for _ in range(len(df))]
        records = [{k: None if _empty(v) else v for k, v in r.items()} for r in records]
        df[group.name] = [r if any(v is not None for v in r.values()) else None for r in records]
    return Table(df, table.base_dir, table.source)


def _empty(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA or (
        isinstance(value, str) and not value.strip())


def load_overrides(path: str | Path) -> dict[str, str]:
    """Read a YAML of `role: [columns]` (or `column: role`) into column -> role."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise TableError(f"{path}: expected a mapping of role -> columns")
    out: dict[str, str] = {}
    for key, value in data.items():
        if key in ROLES:  # role: [columns]
            for col in [value] if isinstance(value, str) else list(value or []):
                out[str(col)] = key
        elif isinstance(value, str) and value in ROLES:  # column: role
            out[str(key)] = value
        else:
            raise TableError(f"{path}: {key!r}: not a role ({', '.join(ROLES)}) nor a column -> role entry")
    return out


def table_defaults(table: Table) -> dict[str, str]:
    """Roles declared by a `schema.yaml` next to a table file (data set recipes write one)."""
    if table.source.startswith("<"):
        return {}
    path = Path(table.source).parent / "schema.yaml"
    if not path.exists():
        return {}
    return {c: r for c, r in load_overrides(path).items() if c in table.df.columns}


def detect_schema(table: Table | pd.DataFrame | str | Path, *, label: str | list[str] | None = None,
                  overrides: dict[str, str] | None = None, sample: int = 200) -> Schema:
    """Work out each column's role. `overrides` maps column -> role and wins over detection."""
    table = read_table(table)
    explicit = set(overrides or {}) | set([label] if isinstance(label, str) else list(label or []))
    overrides = {**table_defaults(table), **(overrides or {})}
    for name in [label] if isinstance(label, str) else list(label or []):
        overrides[name] = "label"
    check_columns(table, overrides)
    columns = []
    for name in table.df.columns:
        if name in overrides:
            why = "set by you" if name not in table_defaults(table) or name in explicit else "schema.yaml"
            columns.append(Column(name, overrides[name], why))
        else:
            role, reason = _detect(name, table.df[name], table.base_dir, sample)
            columns.append(Column(name, role, reason))
    return Schema(columns, table.source)


def check_columns(table: Table, overrides: dict[str, str]) -> None:
    """Unknown column names or roles in the user's choices are errors, with suggestions."""
    for name, role in overrides.items():
        if role not in ROLES:
            raise TableError(f"column {name!r}: unknown role {role!r}; valid: {', '.join(ROLES)}")
        if name not in table.df.columns:
            close = difflib.get_close_matches(name, list(table.df.columns), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TableError(f"{table.source}: no column named {name!r}{hint}; "
                             f"columns are: {', '.join(table.df.columns)}")


def _detect(name: str, values: pd.Series, base_dir: Path, sample: int) -> tuple[str, str]:
    present = values.dropna()
    if present.empty:
        return "ignore", "every cell is empty"
    lname = name.lower()
    if lname == "split" and set(present.astype(str).str.lower()) <= SPLIT_VALUES:
        return "split", "named 'split' with train/val/test values"
    if pd.api.types.is_bool_dtype(values):
        return "categorical", "true/false values"
    if pd.api.types.is_numeric_dtype(values):
        return _detect_number(lname, present)
    strings = present[present.map(lambda v: isinstance(v, str))]
    if len(strings) < len(present):
        return "ignore", f"{len(present) - len(strings)} cells are not strings or numbers"
    return _detect_string(lname, strings, base_dir, sample)


def _detect_number(lname: str, present: pd.Series) -> tuple[str, str]:
    unique = present.nunique()
    if (lname == "id" or lname.endswith("_id")) and unique == len(present):
        return "id", "named like an id, every value unique"
    is_int = pd.api.types.is_integer_dtype(present) or bool((present == present.round()).all())
    if is_int and unique <= 20 and unique < max(len(present) // 5, 3):
        return "categorical", f"{unique} distinct whole numbers"
    return "numeric", "numbers"


def _exists(path: Path) -> bool:
    """Whether a cell names an existing file; a name the system cannot hold (over its length limit) names none."""
    try:
        return path.exists()
    except OSError:
        return False


def _detect_string(lname: str, strings: pd.Series, base_dir: Path, sample: int) -> tuple[str, str]:
    head = strings.head(sample)
    suffixes = head.map(lambda s: Path(s.strip()).suffix.lower())
    for role, exts in (("audio", AUDIO_EXT), ("image", IMAGE_EXT)):
        share = suffixes.isin(exts).mean()
        if share >= PATH_SHARE:
            found = [_exists(resolve_path(s, base_dir)) for s in head.head(20)]
            exist = f"{sum(found)}/{len(found)} sampled files exist"
            if role == "image" and _looks_like_video(head, base_dir):
                return "video", f"{share:.0%} end in .gif with several frames; {exist}"
            return role, f"{share:.0%} of values end in {', '.join(sorted(set(suffixes) & exts))}; {exist}"
    if lname in ("id", "uid", "key", "__key__") or (lname.endswith("_id") and strings.is_unique):
        return "id", "named like an id"
    words = head.map(lambda s: len(s.split())).mean()
    unique = strings.nunique()
    if words >= 3:
        return "text", f"free text, {words:.1f} words on average"
    if unique <= max(50, len(strings) // 5):
        return "categorical", f"{unique} distinct short values"
    if strings.is_unique and words <= 1:
        return "id", "every value unique, single tokens"
    return "text", f"{unique} distinct short texts"


def _looks_like_video(head: pd.Series, base_dir: Path) -> bool:
    """A column of animated GIFs holds clips, not pictures: check the first readable file."""
    from PIL import Image

    gifs = [s for s in head.head(5) if s.lower().endswith(".gif")]
    for value in gifs:
        path = resolve_path(value, base_dir)
        if _exists(path):
            try:
                with Image.open(path) as im:
                    return getattr(im, "n_frames", 1) > 1
            except OSError:
                continue
    return False
