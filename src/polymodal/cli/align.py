"""`polymodal align`: learn a shared embedding space for two or three columns (for search, zero-shot)."""

from __future__ import annotations

import argparse

from rich.table import Table as RichTable

from .common import add_schema_flags, console
from .jobs import TRAINING, SignatureDefaults, add_run_flags, given_flags, job_params, read_config
from .jobs import fit as fit_job
from .jobs import show_default as default


def columns(pair: str) -> list[str]:
    return [c.strip() for c in pair.split(",")]


FLAGS = {"pair": ("columns", columns), "encoders": "encoders", "loss": "loss", "dim": "dim", "lock": "lock",
         "method": "method", "init": "init", "overrides": "overrides", **TRAINING}
# Kept here, not imported from the alignment package: `--help` must not import torch (cli/jobs.py).
# tests/cli checks that they equal alignment.candidates.method_choices().
METHODS = ("auto", "contrastive", "asif", "cca", "procrustes", "ridge", "spoken")


def cmd_align(args: argparse.Namespace) -> int:
    config = read_config(args.config) if args.config else {}
    aligner, out = fit_job("aligner", args, job_params("aligner", given_flags(args), FLAGS, config, args.config))
    for pair, entry in aligner.metrics_["pairs"].items():
        t = RichTable("direction", "method", "val R@1", "R@1", "R@5", "R@10", "chance R@1",
                      title=f"{pair} ({entry['rows']} rows)")
        for method, scores in entry["methods"].items():
            served = " (served)" if method == aligner.method_ else ""
            for direction, m in scores.items():
                val = aligner.metrics_["selection"]["validation"][method].get(direction)
                t.add_row(direction, method + served, "" if val is None else f"{val:.3f}",
                          *(f"{m[f'recall@{k}']:.3f}" for k in (1, 5, 10)), f"{m['chance_recall@1']:.4f}")
        console.print(t)
    console.print(f"method: {aligner.method_} ({aligner.metrics_['selection']['why']})", highlight=False)
    console.print(f"figures: {aligner.estimate_}")
    console.print(f"aligned run written to {out} (report: {out}/report.html)")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("align", help="learn a shared embedding space for two or three columns (search, zero-shot)",
                       formatter_class=SignatureDefaults)
    p.add_argument("table")
    add_schema_flags(p, label=False)
    p.add_argument("--pair", metavar="COL,COL[,COL]", help="the columns to align (default: every image/audio/text "
                   "column)")
    p.add_argument("--encoders", help="e.g. image=efficientnet-lite0,text=minilm,audio=mfcc (role or column); "
                   "a speech column: COLUMN=whisper-asr or COLUMN=whisper (pip install 'polymodal[speech]')")
    default(p.add_argument("--method", choices=METHODS, help="how the shared space is made: contrastive heads, a "
                           "closed form on the frozen features (cca, procrustes, ridge, asif), spoken (a whisper-asr "
                           "audio column against a text column, by how the words sound), or auto: fit them all and "
                           "keep the best mean Recall@1 on validation"), aligner="method")
    default(p.add_argument("--init", choices=("random", "cca"), help="where the contrastive heads start: random "
                           "weights, or the CCA solution (when every column is cached)"), aligner="init")
    default(p.add_argument("--loss", choices=("infonce", "siglip"), help="contrastive loss"), aligner="loss")
    default(p.add_argument("--dim", type=int, help="size of the shared space"), aligner="dim")
    p.add_argument("--lock", action="append", metavar="COL", help="LiT: keep this column's pretrained features as "
                   "its embedding and map the others into them")
    for flag, kind, what in (("--epochs", int, "passes over the training rows"), ("--batch-size", int, "pairs per "
                             "step"), ("--lr", float, "learning rate"), ("--seed", int, "random seed")):
        default(p.add_argument(flag, type=kind, help=what), aligner=flag[2:].replace("-", "_"))
    add_run_flags(p)
    p.set_defaults(func=cmd_align)
