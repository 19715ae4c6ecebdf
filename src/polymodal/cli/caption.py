"""`polymodal caption` (captions of files by a captioning run), and `fit --task caption`'s part: the
flags of the generative tasks, which Captioner parameter each sets, and the fit's report."""

from __future__ import annotations

import argparse

from ..errors import PolymodalError
from .common import console
from .jobs import TRAINING
from .jobs import show_default as default


def one_encoder(spec: str) -> str | None:
    from ..encoders.materialize import parse_encoder_spec

    encoders = list(parse_encoder_spec(spec).values())
    if len(encoders) > 1:
        raise PolymodalError("a captioner has one input: give --encoders one ROLE=NAME")
    return encoders[0] if encoders else None


FIT_FLAGS = {"input": "input", "target": "target", "model": "decoder", "encoders": ("encoder", one_encoder),
             "hidden": "hidden", "patience": "patience", "overrides": "overrides", **TRAINING}


def add_fit_flags(p: argparse.ArgumentParser) -> None:
    """fit's flags of the generative tasks (--task caption and text-to-X)."""
    g = p.add_argument_group("generative tasks (--task caption|text-to-image|text-to-audio|text-to-video)")
    default(g.add_argument("--input", metavar="COL", help="caption: the image or audio column"), captioner="input")
    default(g.add_argument("--target", metavar="COL", help="the column to generate"), captioner="target",
            generator="target", none="the task's medium: image, audio or video")
    default(g.add_argument("--model", metavar="NAME", help="generative model (caption: gru or transformer; "
                           "text-to-X: cvae, cgan or unconditional)"), captioner="decoder", generator="model")


def report_fit(captioner, out) -> None:
    import pandas as pd

    from ..captioning.evaluation import comparison_rows
    from ..report.console import print_comparison

    rows = comparison_rows(captioner.metrics_, f"{captioner.decoder} (beam {captioner.metrics_['beam_size']})")
    print_comparison(console, pd.DataFrame(rows), "", title=f"Captions ({captioner.estimate_})")
    console.print(f"run written to {out} (report: {out}/report.html)")


def cmd_caption(args: argparse.Namespace) -> int:
    from ..captioning.captioner import Captioner

    captioner = Captioner.load(args.run)
    for path, text in zip(args.files, captioner.caption(args.files, beam_size=args.beam), strict=True):
        print(f"{path}\t{text}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("caption", help="captions of image or audio files by a captioning run")
    p.add_argument("run", help="a run of polymodal fit --task caption")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--beam", type=int, default=None, help="beam size (1: greedy; default: the run's)")
    p.set_defaults(func=cmd_caption)
