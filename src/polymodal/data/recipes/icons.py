"""Icons: KDE's Breeze desktop icon theme, one row per distinct drawing, labelled by theme context.

Source: Debian's `breeze-icon-theme`, fetched without root by `apt-get download` and unpacked
in Python (`debian.py`) once into `$POLYMODAL_HOME/data/_sources/debian/`; later builds are
offline. The `theme_dir` option reads an unpacked theme folder instead (for example
/usr/share/icons/breeze where the package is installed).

How rows are chosen, and why:
- One drawing per (context, name): Breeze draws most icons at several sizes (16, 22, 32, 48,
  64 px ...); the largest is kept, the most detailed one. The monochrome `symbolic` folders are
  re-drawings of other icons and are skipped.
- Aliases are dropped: many files are symlinks to another icon, within a context or across them
  (status/appointment-recurring -> actions/view-refresh). Rows are deduplicated on the SHA-256
  of the SVG they resolve to, and again on the rendered PNG, keeping the first in (context, name)
  order: an exact duplicate in two splits would leak test answers into training.
- Contexts with fewer than `min_class` (30) drawings are dropped (categories, animations) and a
  context with more than `max_class` (600) is cut to a seeded sample (actions has ~1,500), so
  actions does not swamp the others and the full table is about 1,900 rows.
- Near duplicates stay: icon families (battery-070, battery-070-charging) are distinct drawings
  and may be split apart; the data card says how few they are.
Columns: `image` (64 px RGB PNG on white), `name` (the icon name with '-'/'_' as spaces,
"audio volume high"), `context` (the label), `size` (the drawn size kept), `file` (its path in
the theme) and a stratified, seeded `split`. The artwork is LGPL-3.0 (KDE Breeze).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import PolymodalError
from ...paths import data_home
from .base import Recipe, RecipeOutput, register, stratified_split, stratified_subset
from .debian import fetch_package
from .svg import render_svg

PACKAGE = "breeze-icon-theme"
THEME = "usr/share/icons/breeze"  # the light theme; breeze-dark is the same drawings recoloured
UPSTREAM = "https://invent.kde.org/frameworks/breeze-icons"
COLUMNS = ["id", "image", "name", "context", "size", "file", "split"]


def theme_folder(theme_dir: object = None) -> tuple[Path, str]:
    """The unpacked Breeze folder and a line saying where it came from."""
    if theme_dir not in (None, ""):
        folder = Path(str(theme_dir)).expanduser()
        if not (folder / "index.theme").is_file():
            raise PolymodalError(f"icons: theme_dir {str(folder)!r} is not an icon theme folder "
                                 "(no index.theme in it)")
        return folder, f"the icon theme folder {folder}"
    root, record = fetch_package(PACKAGE, THEME, data_home() / "_sources" / "debian")
    return root / THEME, f"Debian package {PACKAGE} {record['version']} ({record['deb']})"


def drawings(folder: Path) -> pd.DataFrame:
    """One row per (context, name): the largest drawn size, the file it resolves to, its SHA-256.

    Dangling links (one points into breeze-dark, which is not unpacked) are skipped. A theme is
    read once per process (hashing ~9,000 files takes seconds; an unpacked package never changes).
    """
    return _drawings(folder.resolve()).copy()


@functools.cache
def _drawings(folder: Path) -> pd.DataFrame:
    best: dict[tuple[str, str], tuple[int, Path]] = {}
    for svg in folder.glob("*/*/*.svg"):
        context, size = svg.parts[-3], svg.parts[-2]
        if size.isdigit() and svg.exists():
            key = (context, svg.stem)
            if key not in best or int(size) > best[key][0]:
                best[key] = (int(size), svg)
    rows = [{"context": c, "icon": n, "size": s, "file": str(p.relative_to(folder)),
             "digest": hashlib.sha256(p.resolve().read_bytes()).hexdigest()}
            for (c, n), (s, p) in sorted(best.items())]
    return pd.DataFrame(rows, columns=["context", "icon", "size", "file", "digest"])


def choose(table: pd.DataFrame, *, min_class: int, max_class: int, seed: int) -> pd.DataFrame:
    """Distinct drawings of the contexts with at least `min_class` of them, at most `max_class`
    per context (a seeded sample)."""
    table = table.drop_duplicates("digest")  # aliases: the first in (context, name) order stays
    counts = table["context"].value_counts()
    table = table[table["context"].isin(counts[counts >= min_class].index)]
    if table.empty:
        raise PolymodalError(f"icons: no context has at least min_class={min_class} "
                             "distinct drawings")
    rng = np.random.default_rng([seed, 2])
    kept = [_sample(group, max_class, rng) for _, group in table.groupby("context", sort=True)]
    return pd.concat(kept).reset_index(drop=True)


def _sample(rows: pd.DataFrame, most: int, rng: np.random.Generator) -> pd.DataFrame:
    """At most `most` of `rows`, drawn by `rng`, in their original order."""
    if len(rows) <= most:
        return rows
    return rows.iloc[np.sort(rng.choice(len(rows), most, replace=False))]


def spoken_name(icon: str) -> str:
    """'audio-volume-high' -> 'audio volume high'."""
    return " ".join(icon.replace("_", "-").split("-")).strip()


def render_rows(workdir: Path, folder: Path, table: pd.DataFrame, pixels: int) -> pd.DataFrame:
    """Write images/<id>.png per row; drop rows whose PNG equals an earlier row's (distinct SVGs
    can draw the same pixels)."""
    (workdir / "images").mkdir(parents=True, exist_ok=True)
    seen, keep = set(), []
    for row in table.itertuples():
        png = render_svg(folder / row.file, pixels)
        digest = hashlib.sha256(png).hexdigest()
        keep.append(digest not in seen)
        if digest not in seen:
            seen.add(digest)
            (workdir / row.image).write_bytes(png)
    return table[keep].reset_index(drop=True)


def _as_int(name: str, value: object, low: int, high: int) -> int:
    """A whole-number option, from an int or a command-line string."""
    try:
        number = int(str(value))
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise PolymodalError(f"icons: option {name} must be a whole number from {low} "
                             f"to {high}, got {value!r}")
    return number


def make(workdir: Path, *, size: int, seed: int, image_size: object = 64, min_class: object = 30,
         max_class: object = 600, theme_dir: object = None) -> RecipeOutput:
    """Write images/<id>.png under `workdir`; return the table and its card."""
    pixels = _as_int("image_size", image_size, 8, 2048)
    low = _as_int("min_class", min_class, 1, 10**6)
    high = _as_int("max_class", max_class, 1, 10**6)
    folder, origin = theme_folder(theme_dir)
    found = drawings(folder)
    table = choose(found, min_class=low, max_class=high, seed=seed)
    picked = stratified_subset(table["context"], int(size), seed)
    table = table.iloc[picked].reset_index(drop=True)
    table["id"] = table["context"] + "/" + table["icon"]
    table["image"] = "images/" + table["context"] + "-" + table["icon"] + ".png"
    table["name"] = table["icon"].map(spoken_name)
    table = render_rows(workdir, folder, table, pixels)
    table["split"] = stratified_split(table["context"], seed=seed)
    roles = {"id": "id", "name": "text", "size": "ignore", "file": "ignore"}
    card = _card(found, origin, pixels, low, high)
    return RecipeOutput(table[COLUMNS], stratify="context", card=card, roles=roles)


def _card(found: pd.DataFrame, origin: str, pixels: int, low: int, high: int) -> dict[str, str]:
    """DATACARD sections: where the drawings came from and how rows were chosen."""
    distinct = found.drop_duplicates("digest")["context"].value_counts().sort_index()
    per_context = ", ".join(f"{k} {v}" for k, v in distinct.items())
    return {
        "What a row is": (
            f"One distinct Breeze icon drawing, rasterised by resvg to {pixels}x{pixels} RGB "
            "on white; `name` is its file name with '-' and '_' read as spaces; `context` is "
            "the theme folder it sits in (the label); `size` is the drawn size kept (the "
            "largest of the sizes Breeze draws it at; `symbolic` re-drawings skipped); `file` "
            "is its path in the theme."),
        "How rows were chosen": (
            f"From {origin}: {len(found)} (context, name) pairs, "
            f"{found['digest'].nunique()} distinct SVG files once symlinked aliases are "
            f"resolved (distinct per context: {per_context}). Exact duplicates (same SVG "
            "bytes, or the same rendered PNG) are kept once, first in (context, name) order, "
            f"so no image sits in two splits. Contexts with fewer than {low} drawings are "
            f"dropped; a context with more than {high} is cut to a seeded sample of {high}."),
        "Near duplicates": (
            "Icon families remain: distinct drawings that differ in a detail "
            "(battery-070 and battery-070-charging, folder and folder-download) can sit in "
            "different splits. They are few (in the full build with seed 0, 9 of the 282 test "
            "images lie within 0.05 RMS of a training image at 64 px) and mostly share a "
            "context: test scores are slightly optimistic for icon families never seen."),
        "Attribution": (
            f"Breeze icons © 2014 Uri Herrera and the KDE contributors ({UPSTREAM}), "
            "LGPL-3.0-or-later (Debian's copyright file for the artwork: LGPL-3+); the "
            "rendered PNGs are shared under the same licence."),
    }


register(Recipe(
    name="icons",
    summary="Real desktop icons (KDE Breeze, from Debian's breeze-icon-theme): one row per "
            "distinct drawing, its name as text, labelled by theme context (actions, apps, "
            "status, mimetypes, places, devices ...); aliases and exact duplicates dropped, "
            "contexts under 30 drawings dropped, at most 600 per context.",
    source=f"KDE Breeze icon theme ({UPSTREAM}), Debian package {PACKAGE} fetched with "
           "`apt-get download` (version in the data card); rasterised by resvg-py.",
    license="LGPL-3.0-or-later (KDE Breeze icon artwork)",
    default_size=2_000,  # Breeze 5.103 gives 1,885 distinct drawings: the default keeps them all
    label="context",
    make=make,
    knobs={"image_size": "side of the square RGB images in pixels (default 64)",
           "min_class": "drop contexts with fewer distinct drawings (default 30)",
           "max_class": "seeded sample of at most this many drawings per context (default 600)",
           "theme_dir": "an unpacked Breeze folder (with index.theme) to read instead of "
                        "fetching the package"},
))
