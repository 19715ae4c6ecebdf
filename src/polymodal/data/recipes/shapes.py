"""`shapes`: a deterministic synthetic world of coloured shapes, with sound and motion.

Every row is one scene described four ways: a PNG image of one or two shapes, a
caption, a WAV clip that sonifies the main shape, and a GIF of the main shape
moving. Because every attribute is chosen by us and drawn without anti-aliasing
in a fixed palette, the data set is fast to build, needs no downloads, and lets
tests and generation metrics check attributes exactly (from pixels or from sound).

Randomness is drawn from `numpy.random.default_rng([seed, row, stream])`, so each
row and each medium has its own stream: the same seed gives byte-identical files,
and a change to one medium's code does not reshuffle the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from PIL import Image, ImageDraw

from ...errors import PolymodalError
from .base import Recipe, RecipeOutput, register

SHAPES = ("circle", "square", "triangle", "diamond")
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220),
    "yellow": (235, 200, 30), "purple": (140, 60, 180),
}
SIZES = ("small", "large")
POSITIONS = ("left", "center", "right")
MOTIONS = ("left", "right", "up", "down")
BACKGROUND = (240, 240, 240)
VIDEO_SIZE = 32

# Sound: pitch <- shape, timbre <- colour, duration <- size, onset <- position.
SAMPLE_RATE = 16_000
CLIP_SECONDS = 1.0
SHAPE_PITCH = {"circle": 262.0, "square": 330.0, "triangle": 392.0, "diamond": 523.0}  # C4 E4 G4 C5
COLOR_WAVE = {"red": "square", "green": "triangle", "blue": "sine", "yellow": "sawtooth", "purple": "pulse"}
SIZE_SECONDS = {"small": 0.2, "large": 0.45}
POSITION_ONSET = {"left": 0.05, "center": 0.25, "right": 0.45}

# Geometry, as fractions of the image side. Each shape fills a box of half-side r,
# so the box width alone separates small from large whatever the shape.
_RADIUS = {"small": 0.10, "large": 0.17}
_CENTER_X = {"left": 0.2, "center": 0.5, "right": 0.8}
_WHERE = {"left": "on the left", "center": "in the center", "right": "on the right"}
_IMAGE, _AUDIO, _VIDEO, _PLAN = range(4)  # independent random streams per row


@dataclass(frozen=True)
class Item:
    """One shape's attributes: the vocabulary of labels and captions."""

    shape: str
    color: str
    size: str
    position: str

    def phrase(self) -> str:
        return f"a {self.size} {self.color} {self.shape} {_WHERE[self.position]}"


@dataclass(frozen=True)
class Scene:
    """One row before rendering: the main shape, an optional distractor and a motion."""

    main: Item
    distractor: Item | None
    motion: str

    def caption(self) -> str:
        tail = f" and {self.distractor.phrase()}" if self.distractor else ""
        return self.main.phrase() + tail

    def video_caption(self) -> str:
        return f"a {self.main.color} {self.main.shape} moving {self.motion}"


def _balanced(rng: np.random.Generator, values: tuple[str, ...], n: int) -> list[str]:
    """`n` draws where every value appears n//k or n//k + 1 times, in seeded order.

    Independent balanced draws per attribute keep every class well represented even
    at 60 rows, which a shuffled cycle through the full product would not."""
    cycle = np.resize(rng.permutation(len(values)), n)  # which values get the extras is seeded too
    return [values[i] for i in rng.permutation(cycle)]


def _distractor(rng: np.random.Generator, main: Item) -> Item:
    """A second shape of another colour at another position, so captions and pixels stay unambiguous."""
    color = rng.choice([c for c in COLORS if c != main.color])
    position = rng.choice([p for p in POSITIONS if p != main.position])
    return Item(str(rng.choice(SHAPES)), str(color), str(rng.choice(SIZES)), str(position))


def plan(size: int, seed: int, two_shape_fraction: float) -> list[Scene]:
    """Choose every row's attributes (no files yet); balanced per attribute."""
    rng = np.random.default_rng([seed, _PLAN])
    columns = [_balanced(rng, values, size) for values in (SHAPES, tuple(COLORS), SIZES, POSITIONS, MOTIONS)]
    n_two = round(size * two_shape_fraction)
    two = set(rng.permutation(size)[:n_two].tolist())
    scenes = []
    for i, (shape, color, size_, position, motion) in enumerate(zip(*columns, strict=True)):
        main = Item(shape, color, size_, position)
        other = _distractor(np.random.default_rng([seed, i, _PLAN]), main) if i in two else None
        scenes.append(Scene(main, other, motion))
    return scenes


# ---------------------------------------------------------------- image
Box = tuple[float, float, float]  # centre x, centre y, half-side r, in pixels


def _horizontal(rng: np.random.Generator, item: Item, side: int) -> tuple[float, float]:
    """Centre x and half-side r; jitter is small enough to keep position and size unambiguous."""
    x = (_CENTER_X[item.position] + rng.uniform(-0.02, 0.02)) * side
    return x, _RADIUS[item.size] * rng.uniform(0.92, 1.0) * side


def _separate(a: Box, b: Box, gap: float) -> bool:
    """True when the two boxes, grown by `gap`, do not touch."""
    return abs(a[0] - b[0]) >= a[2] + b[2] + gap or abs(a[1] - b[1]) >= a[2] + b[2] + gap


def layout(rng: np.random.Generator, scene: Scene, side: int) -> list[Box]:
    """Place the main shape (and the distractor below it) without overlap.

    In two-shape scenes the main shape is always the higher one, so a model can
    tell which shape the labels describe; vertical position is not a label."""
    x, r = _horizontal(rng, scene.main, side)
    if scene.distractor is None:
        return [(x, rng.uniform(r + 1, side - r - 1), r)]
    x2, r2 = _horizontal(rng, scene.distractor, side)
    for _ in range(100):  # rejection sampling; almost always succeeds in a few tries
        y, y2 = rng.uniform(r + 1, side - r - 1), rng.uniform(r2 + 1, side - r2 - 1)
        if y2 - y >= 0.12 * side and _separate((x, y, r), (x2, y2, r2), 0.04 * side):
            return [(x, y, r), (x2, y2, r2)]
    return [(x, r + 1, r), (x2, side - r2 - 1, r2)]  # top and bottom: always apart


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: Box, fill) -> None:
    """Draw `shape` filling the box (x ± r, y ± r); no anti-aliasing, so colours stay exact."""
    x, y, r = box
    if shape == "circle":
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    elif shape == "square":
        draw.rectangle((x - 0.9 * r, y - 0.9 * r, x + 0.9 * r, y + 0.9 * r), fill=fill)
    elif shape == "triangle":
        draw.polygon([(x, y - 0.9 * r), (x + r, y + 0.9 * r), (x - r, y + 0.9 * r)], fill=fill)
    elif shape == "diamond":
        draw.polygon([(x, y - r), (x + r, y), (x, y + r), (x - r, y)], fill=fill)
    else:
        raise PolymodalError(f"unknown shape {shape!r}; valid: {', '.join(SHAPES)}")


def render_image(rng: np.random.Generator, scene: Scene, side: int) -> Image.Image:
    """The scene as an RGB image on a plain background."""
    image = Image.new("RGB", (side, side), BACKGROUND)
    draw = ImageDraw.Draw(image)
    items = [scene.main] + ([scene.distractor] if scene.distractor else [])
    for item, box in zip(items, layout(rng, scene, side), strict=True):
        draw_shape(draw, item.shape, box, COLORS[item.color])
    return image


# ---------------------------------------------------------------- audio
def _wave(kind: str, phase: np.ndarray) -> np.ndarray:
    """One of five zero-mean waveforms of `phase` in cycles [0, 1): their harmonics differ."""
    if kind == "sine":
        return np.sin(2 * np.pi * phase)
    if kind == "square":
        return np.where(phase < 0.5, 1.0, -1.0)
    if kind == "triangle":
        return 4 * np.abs(phase - 0.5) - 1
    if kind == "sawtooth":
        return 2 * phase - 1
    return np.where(phase < 0.25, 1.0, -1 / 3)  # pulse, 25 % duty; -1/3 keeps the mean at zero


def sonify(rng: np.random.Generator, item: Item) -> np.ndarray:
    """A 1 s mono clip at 16 kHz: a tone whose pitch, timbre, length and onset encode `item`."""
    f0 = SHAPE_PITCH[item.shape] * rng.uniform(0.995, 1.005)  # under 9 cents: notes stay far apart
    onset = POSITION_ONSET[item.position] + rng.uniform(-0.02, 0.02)
    seconds = SIZE_SECONDS[item.size] * rng.uniform(0.95, 1.05)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tone = _wave(COLOR_WAVE[item.color], (f0 * t + rng.uniform()) % 1.0)
    ramp = min(len(t) // 2, int(0.01 * SAMPLE_RATE))  # 10 ms fades avoid clicks at the edges
    fade = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, ramp))
    envelope = np.concatenate([fade, np.ones(len(t) - 2 * ramp), fade[::-1]])
    clip = rng.normal(0.0, 0.002, int(CLIP_SECONDS * SAMPLE_RATE))  # a faint noise floor
    start = int(onset * SAMPLE_RATE)
    clip[start:start + len(t)] += 0.5 * rng.uniform(0.9, 1.1) * tone * envelope
    return clip.astype(np.float32)


# ---------------------------------------------------------------- video
def animate(rng: np.random.Generator, scene: Scene, frames: int) -> list[Image.Image]:
    """`frames` palette images of the main shape crossing about half the frame.

    Each step moves at least one whole pixel: GIF writers merge identical frames."""
    side, item = VIDEO_SIZE, scene.main
    r = 0.15 * side * rng.uniform(0.92, 1.0)
    start, end = (0.22 + rng.uniform(-0.02, 0.02)) * side, (0.78 + rng.uniform(-0.02, 0.02)) * side
    if scene.motion in ("left", "up"):
        start, end = side - start, side - end
    across = (0.5 + rng.uniform(-0.1, 0.1)) * side
    out = []
    for along in np.round(np.linspace(start, end, frames)):
        x, y = (along, across) if scene.motion in ("left", "right") else (across, along)
        frame = Image.new("P", (side, side), 0)
        frame.putpalette([*BACKGROUND, *COLORS[item.color]])
        draw_shape(ImageDraw.Draw(frame), item.shape, (x, round(y), r), 1)
        out.append(frame)
    return out


# ---------------------------------------------------------------- recipe
def _write_row(workdir: Path, i: int, scene: Scene, seed: int, image_size: int, frames: int) -> dict:
    """Write the three media files of row `i`; return its table row."""
    stem = f"{i:06d}"
    image, audio, video = f"images/{stem}.png", f"audio/{stem}.wav", f"video/{stem}.gif"
    render_image(np.random.default_rng([seed, i, _IMAGE]), scene, image_size).save(workdir / image)
    sf.write(workdir / audio, sonify(np.random.default_rng([seed, i, _AUDIO]), scene.main),
             SAMPLE_RATE, subtype="PCM_16")
    clip = animate(np.random.default_rng([seed, i, _VIDEO]), scene, frames)
    clip[0].save(workdir / video, save_all=True, append_images=clip[1:], duration=100, loop=0)
    main = scene.main
    return {"id": f"shapes-{stem}",  # a prefix keeps CSV readers from turning ids into integers
            "image": image, "audio": audio, "video": video,
            "caption": scene.caption(), "video_caption": scene.video_caption(),
            "shape": main.shape, "color": main.color, "size": main.size, "position": main.position,
            "count": 1 + (scene.distractor is not None), "motion": scene.motion}


def _check(size: int, image_size: int, two_shape_fraction: float, frames: int) -> None:
    """Reject knobs that would make attributes ambiguous or break the GIFs."""
    if size < 1:
        raise PolymodalError(f"shapes: size must be at least 1, got {size}")
    if not 32 <= image_size <= 512:
        raise PolymodalError(f"shapes: image_size must be between 32 and 512 pixels, got {image_size}")
    if not 0.0 <= two_shape_fraction <= 1.0:
        raise PolymodalError(f"shapes: two_shape_fraction must be between 0 and 1, got {two_shape_fraction}")
    if not 2 <= frames <= 16:  # more frames would need sub-pixel steps, and GIF merges equal frames
        raise PolymodalError(f"shapes: frames must be between 2 and 16, got {frames}")


def make(workdir: Path, *, size: int, seed: int, image_size: int = 64, two_shape_fraction: float = 0.3,
         frames: int = 8) -> RecipeOutput:
    """Write `size` scenes under `workdir`; split stratified on the main shape."""
    size, image_size, frames = int(size), int(image_size), int(frames)  # knobs may arrive as CLI strings
    two_shape_fraction = float(two_shape_fraction)
    _check(size, image_size, two_shape_fraction, frames)
    for folder in ("images", "audio", "video"):
        (workdir / folder).mkdir(parents=True, exist_ok=True)
    scenes = plan(size, seed, two_shape_fraction)
    rows = [_write_row(workdir, i, scene, seed, image_size, frames) for i, scene in enumerate(scenes)]
    # video_caption describes the clip's motion, not the image: keep it from being read as its text.
    return RecipeOutput(table=pd.DataFrame(rows), stratify="shape", card=_card(image_size, frames),
                        roles={"video_caption": "ignore"})


def _card(image_size: int, frames: int) -> dict[str, str]:
    """DATACARD sections: what each attribute looks and sounds like, and the caption grammar."""
    colors = ", ".join(f"{name} {rgb}" for name, rgb in COLORS.items())
    sound = "\n".join(
        [f"- shape -> pitch: {', '.join(f'{k} {v:g} Hz' for k, v in SHAPE_PITCH.items())} (jitter under 0.5 %)",
         f"- colour -> waveform: {', '.join(f'{k} {v}' for k, v in COLOR_WAVE.items())} (pulse: 25 % duty)",
         f"- size -> tone length: {', '.join(f'{k} {v:g} s' for k, v in SIZE_SECONDS.items())} (± 5 %)",
         f"- position -> onset: {', '.join(f'{k} {v:g} s' for k, v in POSITION_ONSET.items())} (± 0.02 s)",
         "- each clip: 1.0 s, mono, 16 kHz, PCM_16; peak about 0.5, 10 ms fades, noise floor about -54 dBFS.",
         "- only the main shape sounds; the fundamental is always the loudest partial."])
    return {
        "Scenes": f"{image_size}x{image_size} RGB PNG, background {BACKGROUND}, no anti-aliasing. "
                  f"Shapes: {', '.join(SHAPES)}. Colours (RGB): {colors}. Size: small or large (box half-side "
                  "0.10 or 0.17 of the side). Position: horizontal centre at 0.2, 0.5 or 0.8 of the width "
                  "(± 0.02); vertical position is random and not a label. In two-shape scenes (`count` 2) the "
                  "distractor has another colour and another position, never overlaps, and sits lower: the "
                  "labelled (main) shape is always the higher one. Attributes are balanced per column.",
        "Attribute to sound": sound,
        "Caption grammar": "`caption` = PHRASE [` and ` PHRASE], where PHRASE = `a SIZE COLOUR SHAPE WHERE` and "
                           "WHERE is `on the left`, `in the center` or `on the right`; the first phrase is the "
                           "main shape. `video_caption` = `a COLOUR SHAPE moving MOTION`.",
        "Video": f"Animated GIF, {frames} frames of {VIDEO_SIZE}x{VIDEO_SIZE}, 100 ms each: the main shape (same "
                 "shape and colour) crosses from about 0.22 to 0.78 of the frame in direction `motion` "
                 "(left, right, up or down), at least one pixel per frame.",
        "Determinism": "The same seed and knobs give byte-identical files; each row and medium draws from "
                       "its own random stream `default_rng([seed, row, medium])`.",
    }


register(Recipe(
    name="shapes",
    summary="Synthetic scenes of coloured shapes, each as an image, a caption, a sonified sound and a "
            "short animation: fast, offline, and exactly measurable.",
    source="Generated by polymodal (numpy + Pillow + soundfile); no external data.",
    license="CC0 1.0 (generated data; no third-party content).",
    default_size=2000,
    label="shape",
    make=make,
    knobs={"image_size": "side of the square scene images in pixels, 32 to 512 (default 64)",
           "two_shape_fraction": "share of scenes with a second, distractor shape, 0 to 1 (default 0.3)",
           "frames": "frames per animated GIF, 2 to 16 (default 8)"},
    version=2,  # 2: writes schema.yaml (video_caption ignored)
))
