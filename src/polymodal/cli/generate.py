"""`polymodal generate` (images, sounds or clips from text with a generator run), and `fit --task
text-to-X`'s part: its flags, which Generator parameter each sets, and the fit's report."""

from __future__ import annotations

import argparse

from .common import console, print_metrics
from .jobs import TRAINING
from .jobs import show_default as default

TASKS = ("text-to-image", "text-to-audio", "text-to-video", "image-to-image")
FIT_FLAGS = {"model": "model", "prompt": "prompt", "target": "target", "source": "source",
             "text_encoder": "text_encoder",
             "image_size": "image_size", "n_mels": "n_mels", "audio_frames": "audio_frames",
             "no_evaluate": ("evaluate_after_fit", lambda given: not given), **TRAINING}


def add_fit_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("generation (--task text-to-image|text-to-audio|text-to-video|image-to-image)")
    default(g.add_argument("--prompt", metavar="COL", help="the text column to generate from"), generator="prompt")
    g.add_argument("--source", metavar="COL", help="--task image-to-image (--model cyclegan): the image column to "
                   "translate from; --target names the column whose look it learns (no pairing of rows needed)")
    default(g.add_argument("--text-encoder", choices=("minilm", "gru"), help="prompt embedding: frozen MiniLM or "
                           "a GRU trained with the model"), generator="text_encoder")
    default(g.add_argument("--image-size", type=int, help="side of generated images and clip frames"),
            generator="image_size")
    default(g.add_argument("--n-mels", type=int, help="mel bands of a generated sound's spectrogram"),
            generator="n_mels")
    default(g.add_argument("--audio-frames", type=int, help="time frames of that spectrogram, over the whole clip"),
            generator="audio_frames")
    g.add_argument("--no-evaluate", action="store_true", default=None, help="skip the evaluation on held-out "
                   "prompts after fitting (it trains attribute readers and, for images, an alignment model)")


def report_fit(g, out) -> None:
    shown = {k: v for k, v in g.metrics_.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    if shown:
        print_metrics(shown, f"{g.model} {g.task}: {g.metrics_.get('estimate', 'held-out prompts')}")
    console.print(f"generator written to {out} (report: {out}/report.html)")


def cmd_generate(args: argparse.Namespace) -> int:
    from ..generation.generator import Generator

    g = Generator.load(args.run)  # a run of another kind is refused here, with its kind named
    if g.task == "image-to-image":  # the "prompts" are image files: each translated once
        samples = g.translate(args.prompts)
        path = g.write(samples, args.output, columns=min(len(samples), 8))
        console.print(f"{len(samples)} translated image(s) written to {path}")
        return 0
    samples = g.generate(args.prompts, n=args.n, seed=args.seed)
    path = g.write(samples, args.output, columns=args.n)
    console.print(f"{len(samples)} sample(s) written to {path}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("generate", help="generate images, sounds or clips from text with a generator run (or "
                       "translate images with an image-to-image run)")
    p.add_argument("run", help="a generator run directory (polymodal fit --task text-to-... or image-to-image)")
    p.add_argument("prompts", nargs="+", metavar="TEXT", help="one or more prompts (image files for an "
                   "image-to-image run)")
    p.add_argument("-n", type=int, default=8, help="samples per prompt (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="out.png (images), out.wav (audio) or "
                   "out.gif (clips)")
    p.set_defaults(func=cmd_generate)
