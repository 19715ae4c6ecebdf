"""`polymodal fit`: one command for every job that learns from a table. `--task` picks the job through
the kinds table: caption -> a Captioner, text-to-image|audio|video -> a Generator, else a Predictor."""

from __future__ import annotations

import argparse

from ..errors import PolymodalError
from . import caption, generate
from .common import add_schema_flags, console
from .jobs import TRAINING, SignatureDefaults, add_run_flags, flag_name, given_flags, job_params, read_config
from .jobs import fit as fit_job
from .jobs import show_default as default

PREDICTOR_TASKS = ("auto", "classification", "multilabel", "regression")
WHAT = {"fusion_option": "fusion", "label_weight": "label loss to weight", "val": "separate validation table"}


def kind_of(task: str | None) -> str:
    return "captioner" if task == "caption" else "generator" if task in generate.TASKS else "predictor"


def label_weights(items: list[str]) -> dict[str, float]:
    """`--label-weight COL=W` (repeatable) as {column: weight}; the Predictor checks columns and values."""
    out: dict[str, float] = {}
    for item in items:
        column, sep, raw = (part.strip() for part in item.rpartition("="))
        try:
            weight = float(raw)
        except ValueError:
            weight = None
        if not sep or not column or weight is None or column in out:
            raise PolymodalError(f"--label-weight {item!r}: expected COL=WEIGHT (a number), each label once")
        out[column] = weight
    return out


def fusion_options(items: list[str]) -> dict:
    from ..fusion.options import parse_cli

    return parse_cli(items)


PREDICTOR_FLAGS = {"label": "label", "fusion": "fusion", "fusion_option": ("fusion_options", fusion_options),
                   "encoders": "encoders", "encoder_mode": "encoder_mode", "imbalance": "imbalance",
                   "label_weight": ("label_weights", label_weights), "hidden": "hidden",
                   "modality_dropout": "modality_dropout", "patience": "patience",
                   "no_baselines": ("baselines", lambda given: not given), "require_all": "require_all",
                   "estimate": "estimate", "folds": "folds", "classical": "classical",
                   "no_ensemble": ("ensemble", lambda given: not given), "bag_folds": "bag_folds",
                   "unlabeled": "unlabeled", "augment": "augment", "time_limit": "time_limit",
                   "tabular": "tabular", "stream": "stream", "denoise": "denoise", "adversarial": "adversarial",
                   "pretrain": "pretrain",
                   "epsilon": "epsilon", "warm_start": "warm_start", "replay": "replay",
                   "dp_epsilon": "dp_epsilon", "dp_delta": "dp_delta", "dp_clip": "dp_clip",
                   "overrides": "overrides", **TRAINING}


def report_predictor(predictor, out) -> None:
    from ..report.console import print_comparison

    print_comparison(console, predictor.comparison_, predictor.task_.monitor)
    for skipped in getattr(predictor, "skipped_candidates_", []):
        console.print(f"skipped {skipped['stage']}{skipped['name']}: {skipped['reason']}")
    console.print(f"best: [bold]{predictor.best_.name}[/]; figures: {predictor.estimate_}")
    console.print(f"run written to {out} (report: {out}/report.html)")


KINDS = {"predictor": (PREDICTOR_FLAGS, report_predictor), "captioner": (caption.FIT_FLAGS, caption.report_fit),
         "generator": (generate.FIT_FLAGS, generate.report_fit)}


RUN_KEEPS = ("fusion", "fusion_option", "classical", "no_baselines", "hidden", "tabular", "encoders", "encoder_mode")


def _warm_flags(given: dict, args: argparse.Namespace) -> None:
    """--warm-start RUN: the run's label(s) when --label is left out; the flags that shape the run's candidates are
    the run's, so giving one is refused rather than ignored."""
    from pathlib import Path

    from ..runs.files import read_json
    from ..schema import Schema

    kept = [flag_name(d, args) for d in RUN_KEEPS if d in given]
    if kept:
        raise PolymodalError(f"{', '.join(kept)}: a warm start continues the run's own candidates and encoders; "
                             "leave these out (or fit from scratch)")
    schema = Path(given["warm_start"]) / "schema.json"
    if "label" not in given:
        if not schema.exists():
            raise PolymodalError(f"--warm-start {given['warm_start']}: not a predictor's run folder (no {schema.name})")
        given["label"] = Schema.from_dict(read_json(schema)).labels


def cmd_fit(args: argparse.Namespace) -> int:
    config = read_config(args.config) if args.config else {}
    task = args.task if args.task is not None else config.get("task")
    kind = kind_of(task)
    flags, report = KINDS[kind]
    given = given_flags(args)
    for dest in given:
        if dest not in flags and not (dest == "val" and kind == "predictor"):
            if dest in WHAT:
                raise PolymodalError(f"{flag_name(dest, args)} applies to predictors; --task {task} has no "
                                     f"{WHAT[dest]}")
            raise PolymodalError(f"{flag_name(dest, args)} is not an option of --task {task or 'auto'} "
                                 "(see polymodal fit --help)")
    more = {"tuning_data": given.pop("val")} if "val" in given else {}
    if "warm_start" in given:
        _warm_flags(given, args)
    if kind == "captioner":
        config = {k: v for k, v in config.items() if not (k == "task" and v == "caption")}
    elif args.task is not None:
        given["task"], flags = args.task, {**flags, "task": "task"}
    job, out = fit_job(kind, args, job_params(kind, given, flags, config, args.config), **more)
    report(job, out)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("fit", help="fit a multimodal predictor (or a captioner, a generator) on a table and write "
                       "a run directory", formatter_class=SignatureDefaults)
    p.add_argument("table")
    add_schema_flags(p)
    default(p.add_argument("--fusion", help="fusion name, comma list, 'all' (see `polymodal fusions`), "
                                            "or 'none' (classical candidates only)"),
            predictor="fusion")
    p.add_argument("--fusion-option", action="append", metavar="[FUSION.]KEY=VALUE",
                   help="a fusion's constructor option, e.g. gated.gate_rank=0 or attention.width=32 (repeat; "
                        "without FUSION. it reaches every fusion trained)")
    p.add_argument("--encoders", help="e.g. image=efficientnet-lite0,text=minilm,audio=mfcc (role or column); "
                   "a speech column: COLUMN=whisper-asr or COLUMN=whisper (pip install 'polymodal[speech]')")
    p.add_argument("--encoder-mode", choices=("frozen", "last", "full"), help="override every encoder's mode")
    default(p.add_argument("--task", choices=(*PREDICTOR_TASKS, "caption", *generate.TASKS),
                           help="what to learn: a predictor's task, captions, or text-to-X generation"),
            predictor="task")
    default(p.add_argument("--imbalance", choices=("none", "weighted", "focal", "sampler", "smote"),
                           help="classification labels: class-weighted loss, focal loss, class-balanced "
                                "sampling, or SMOTE's synthetic rows (fixed features only)"), predictor="imbalance")
    p.add_argument("--label-weight", action="append", metavar="COL=WEIGHT",
                   help="several labels: the weight of COL's loss (repeat; default 1 each)")
    p.add_argument("--val", metavar="TABLE", help="a separate validation table (early stopping, choosing the "
                   "fusion); TABLE then gives only training rows (predictor tasks)")
    for flag, kind, what in (("--epochs", int, "passes over the training rows"), ("--batch-size", int, "rows per "
                             "step"), ("--lr", float, "learning rate")):
        name = flag[2:].replace("-", "_")
        default(p.add_argument(flag, type=kind, help=what), predictor=name, captioner=name, generator=name)
    default(p.add_argument("--hidden", type=int, help="hidden width"), predictor="hidden", captioner="hidden")
    default(p.add_argument("--modality-dropout", type=float, help="chance of hiding each modality in training"),
            predictor="modality_dropout")
    default(p.add_argument("--patience", type=int, help="early stopping: epochs without improvement"),
            predictor="patience", captioner="patience")
    default(p.add_argument("--seed", type=int, help="random seed"), predictor="seed", captioner="seed",
            generator="seed")
    p.add_argument("--no-baselines", action="store_true", default=None, help="skip the unimodal baselines")
    p.add_argument("--no-ensemble", action="store_true", default=None, help="do not save an ensemble of the "
                   "candidates, even when it is best on validation (ensemble selection, Caruana et al. 2004)")
    default(p.add_argument("--adversarial", choices=("fgsm", "pgd"), help="adversarial training: every neural "
                           "candidate learns from clean and attacked batches alike"), predictor="adversarial")
    default(p.add_argument("--epsilon", type=float, help="the attack's budget, a share of each input column's "
                           "standard deviation (default 0.1)"), predictor="epsilon")
    default(p.add_argument("--tabular", choices=("group", "separate"), help="numeric and categorical columns: one "
                           "`tabular` modality (group, the default) or each a modality of its own (separate)"),
            predictor="tabular")
    default(p.add_argument("--denoise", type=float, metavar="NOISE", help="denoising pre-training: a denoising "
                           "autoencoder in front of each column with fixed features, trained to clean features "
                           "corrupted by NOISE standard deviations of Gaussian noise (0.5 is a good start)"),
            predictor="denoise")
    default(p.add_argument("--pretrain", action="store_true", default=None, help="cross-modal contrastive "
                           "pre-training: a front on each column with fixed features learns, on the training rows and "
                           "every row without a label, to bring a row's modalities together, before the neural "
                           "candidates fine-tune it"), predictor="pretrain")
    default(p.add_argument("--stream", action=argparse.BooleanOptionalAction, help="a table larger than memory: read "
                           "the Parquet table batch by batch and train on memory-mapped features (default: on for a "
                           "Parquet table of 1M rows or more)"), predictor="stream")
    p.add_argument("--dp-epsilon", type=float, metavar="E", help="differential privacy: train the one fusion by DP-SGD "
                   "(Opacus) within a privacy budget of E (1 to 10 are common; the epsilon spent is reported); no "
                   "baselines or classical candidates are fitted")
    default(p.add_argument("--dp-delta", type=float, metavar="D", help="the privacy budget's delta, far below "
                           "1 / rows"), predictor="dp_delta")
    default(p.add_argument("--dp-clip", type=float, metavar="NORM", help="the bound on each row's gradient norm under "
                           "--dp-epsilon"), predictor="dp_clip")
    p.add_argument("--warm-start", metavar="RUN", help="an online update: continue the predictor run RUN on this "
                   "table's rows, its schema, encoders, label set and candidates kept, each neural candidate from its "
                   "saved weights, with the run's replay reservoir trained on beside the new rows")
    default(p.add_argument("--replay", type=int, metavar="ROWS", help="the replay reservoir the run keeps (a uniform "
                           "sample of every row fitted on) and an update replays; 0 keeps and replays none"),
            predictor="replay")
    default(p.add_argument("--time-limit", type=float, metavar="SECONDS", help="a budget for the whole fit: "
                           "classical candidates first, then the neural ones cheapest first with the epochs that fit, "
                           "skipping those without time for one (listed); the best finished one is saved"),
            predictor="time_limit")
    default(p.add_argument("--augment", metavar="SPEC", help="augmentation while the neural candidates train: "
                           "mixup=ALPHA (mixes features, cached ones too), image=flip+crop+jitter+rotate, "
                           "audio=noise+gain+shift+mask, text=dropout+swap (the last three for trainable encoders), "
                           "comma-separated; off by default"), predictor="augment")
    default(p.add_argument("--unlabeled", choices=("ignore", "use"), help="rows whose label is empty: set them aside "
                           "(ignore, the default), or pseudo-label them with the chosen model and fit every candidate "
                           "again with the confident ones (use; kept only when better on validation)"),
            predictor="unlabeled")
    default(p.add_argument("--bag-folds", type=int, metavar="K", help="k-fold bagging: fit every candidate K "
                           "times over K folds of the training and validation rows, and choose on the out-of-fold "
                           "predictions (K times the training time; 0 = off, the default)"), predictor="bag_folds")
    default(p.add_argument("--classical", metavar="NAMES", help="classical candidates on the fixed features "
                           "(cached encoders, numbers, categories), chosen when best on validation; comma list of "
                           "linear (a linear probe), lightgbm (gradient-boosted trees), knn (k nearest neighbours), "
                           "or none (default: linear,lightgbm,knn)"), predictor="classical")
    default(p.add_argument("--estimate", choices=("auto", "holdout", "cv"), help="where the reported figures come "
                           "from: auto = the split column, else 70/15/15 from 1,000 rows, else cross-validation"),
            predictor="estimate")
    default(p.add_argument("--folds", type=int, help="folds of the cross-validated estimate"), predictor="folds")
    p.add_argument("--require-all", action="store_true", default=None, help="treat an empty cell as an error")
    add_run_flags(p)
    caption.add_fit_flags(p)
    generate.add_fit_flags(p)
    p.set_defaults(func=cmd_fit)
