"""The demo's second data set: `shapes` scenes, for the jobs whose output a person reads or looks at.

A captioner describes scenes in words (image -> caption), and two conditional VAEs go the other
way: a picture and a sound from a sentence (text -> image, text -> audio). Each is kept small (a few
epochs) so that `make demo` stays within its time budget on two cores; the full-size figures are in
BENCHMARKS.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from ..data.recipes import build
from ..paths import data_home

DATA = "shapes"
EVAL_ROWS = 150
# Training batches of the attribute readers that judge the demo's outputs (a reader must read 90% of held-out real
# files right, as they are and perturbed, or its attribute is not scored). The 32 px image reader read shapes on
# 97% / 96% (real / perturbed) after 600 batches, 96% / 93% after 400 and 87% after 4 epochs (264); the sound reader
# costs several times as much per batch and reads every attribute of every real clip right, as it is and perturbed,
# after its minimum of 3 epochs (readers.MIN_EPOCHS: 198 batches).
READER_STEPS = {"image": 600, "audio": 200}
# The sound model's spectrogram: 32 mel bands x 32 frames (31 ms each) instead of the default 64 x 64. It costs a
# quarter per step, and on `shapes` (a tone's pitch, timbre, length and onset) 30 epochs are read back better than at
# 64 x 64: mean attribute accuracy 0.90 against 0.83 (pitch 0.91-0.96 / 1.0, timbre 0.9 / 0.86, length 0.95 / 0.86,
# onset 0.8 / 0.59), in 50 s instead of 180 s; its reader listens at the same 32 bands (readers.reader_encoder).
SOUND = {"n_mels": 32, "audio_frames": 32}


@dataclass
class ShapesResults:
    table: Path
    captioner: object | None = None
    generators: dict[str, object] = field(default_factory=dict)  # output role -> fitted Generator
    seconds: dict[str, float] = field(default_factory=dict)


def run_shapes(out: Path, console: Console, *, size: int | None = None, epochs: int = 12,
               generator_epochs: int = 30, reader_steps: dict[str, int] | None = None) -> ShapesResults:
    """Build `shapes` (cached), fit the demo's captioner into `out/caption` and its generators into
    `out/generate-image` and `out/generate-audio`."""
    from ..captioning.captioner import Captioner

    started = time.time()
    folder = data_home() / DATA if size is None else out / "data-shapes"
    with console.status(f"building the {DATA!r} data set (cached after the first run) ..."):
        table = Path(build(DATA, folder, size=size))
    results = ShapesResults(table, seconds={"build": time.time() - started})
    started = time.time()
    with console.status("fitting a captioner (image -> caption) on shapes ..."):
        results.captioner = Captioner("image", "caption", "gru", epochs=epochs, progress=False).fit(
            table, out=out / "caption", overwrite=True)
    results.seconds["caption"] = time.time() - started
    m = results.captioner.metrics_
    console.print(f"captioner: test BLEU-4 {m['bleu_4']:.3f} (nearest-neighbour baseline {m['nn_bleu_4']:.3f}), "
                  f"all four attributes right {m['attributes_all_accuracy']:.1%} "
                  f"({results.seconds['caption']:.0f} s)")
    for role in ("image", "audio"):  # the sound model gets half the epochs: 30 suffice at 32 x 32 (SOUND)
        _generate(results, out, console, role, generator_epochs if role == "image" else max(1, generator_epochs // 2),
                  (reader_steps or READER_STEPS)[role])
    return results


def _generate(results: ShapesResults, out: Path, console: Console, role: str, epochs: int, reader_steps: int
              ) -> None:
    """A conditional VAE from the caption to the scene's `role`: it trains in a fraction of a GAN's time
    and does not collapse, which suits a demo's few epochs."""
    from ..generation.generator import Generator

    started = time.time()
    with console.status(f"fitting a text-to-{role} model (conditional VAE) on shapes ..."):
        g = Generator(f"text-to-{role}", "cvae", prompt="caption", target=role, epochs=epochs, evaluate_after_fit=False,
                      progress=False, **SOUND if role == "audio" else {}).fit(results.table)
    with console.status(f"judging generated {role}s with attribute readers trained on real ones ..."):
        # Attributes only: on `shapes` they are exact, and the Fréchet distance and R-precision
        # (features=True, used in BENCHMARKS.md on openmoji) would double the demo's time. Judging the
        # first 150 held-out prompts, with a shorter sound reader (READER_STEPS; every reader must still
        # read 90% of held-out real files right to be trusted): the cold demo stays within 10 minutes.
        g.metrics_ = g.evaluate(results.table, features=False, max_rows=EVAL_ROWS, reader_steps=reader_steps)
        g.save(out / f"generate-{role}")
    results.generators[role] = g
    results.seconds[f"generate-{role}"] = time.time() - started
    scored = {k.removeprefix("attribute_accuracy_"): v for k, v in g.metrics_.items()
              if k.startswith("attribute_accuracy_") and k != "attribute_accuracy_mean"}
    read = ", ".join(f"{a} {v:.1%}" for a, v in scored.items()) or "no attribute scored (see the report's notes)"
    console.print(f"text-to-{role}: attributes read back from generated {role}s: {read} "
                  f"({results.seconds[f'generate-{role}']:.0f} s)")
