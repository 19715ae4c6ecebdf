"""The `polymodal` command. Thin: parse arguments, call the API, print the result."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from rich.console import Console
from rich.table import Table as RichTable

from . import __version__
from .console_tables import print_comparison, print_summary
from .errors import PolymodalError
from .registry import parse_value

console = Console(width=None if sys.stdout.isatty() else 200)  # pipes and logs get whole tables
ROLE_FLAGS = ("image", "audio", "video", "text", "numeric", "categorical", "ignore")


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    """--image COL (repeatable) and friends, plus --schema YAML, as column -> role."""
    from .schema import load_overrides

    out = load_overrides(args.schema) if getattr(args, "schema", None) else {}
    for role in ROLE_FLAGS:
        for col in getattr(args, role, None) or []:
            out[col] = role
    return out


def _add_schema_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--label", action="append", metavar="COL", help="label column (repeat for several)")
    for role in ROLE_FLAGS:
        p.add_argument(f"--{role}", action="append", metavar="COL", help=f"treat COL as {role}")
    p.add_argument("--schema", metavar="YAML", help="YAML of role: [columns] overrides")
    p.add_argument("--on-error", choices=("error", "skip"), default="error",
                   help="bad rows: stop and list them all (default), or skip them into skipped.csv")


def cmd_inspect(args: argparse.Namespace) -> int:
    from .data.summary import summarize

    summary = summarize(args.table, label=args.label, overrides=_overrides(args),
                        on_error=args.on_error, skipped_path=args.skipped, check_files=not args.no_check)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
        return 1 if summary.problems and args.on_error == "error" else 0
    print_summary(console, summary)
    return 0


def cmd_data_list(args: argparse.Namespace) -> int:
    from .data.recipes import list_recipes

    t = RichTable("name", "rows", "label", "summary", "options", title="Data set recipes")
    for r in list_recipes():
        t.add_row(r.name, str(r.default_size), r.label, r.summary, ", ".join(r.knobs))
    console.print(t)
    return 0


def cmd_fusions(args: argparse.Namespace) -> int:
    from .fusion.base import fusion_names
    from .fusion.options import option_defaults, summary

    t = RichTable("name", "what", "options (default)", title="Fusions (fit --fusion NAME|all, "
                  "--fusion-option NAME.KEY=VALUE)",
                  caption="hidden and dropout are set for every model, baselines included, by fit's --hidden "
                          "(and Predictor(dropout=)); the unimodal baselines get no other option")
    for name in fusion_names():
        t.add_row(name, summary(name), ", ".join(f"{k}={v}" for k, v in option_defaults(name).items()))
    console.print(t)
    return 0


def _parse_knobs(pairs: list[str]) -> dict:
    knobs = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise PolymodalError(f"--set expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        knobs[key] = parse_value(value)
    return knobs


def cmd_data_build(args: argparse.Namespace) -> int:
    from .data.recipes import build
    from .paths import data_home

    out = Path(args.out) if args.out else data_home() / args.name
    with console.status(f"building {args.name} into {out} ..."):
        path = build(args.name, out, size=args.size, seed=args.seed, force=args.force, **_parse_knobs(args.set))
    console.print(f"[green]built[/] {path} (card: {path.parent / 'DATACARD.md'})")
    return 0


def _label_weights(items: list[str] | None) -> dict[str, float]:
    """`--label-weight COL=W` (repeatable) as {column: weight}; the Predictor checks columns and values."""
    out: dict[str, float] = {}
    for item in items or []:
        column, sep, raw = (part.strip() for part in item.rpartition("="))
        try:
            weight = float(raw)
        except ValueError:
            weight = None
        if not sep or not column or weight is None or column in out:
            raise PolymodalError(f"--label-weight {item!r}: expected COL=WEIGHT (a number), each label once")
        out[column] = weight
    return out


def cmd_fit(args: argparse.Namespace) -> int:
    if args.task == "caption" or args.task in GENERATION_TASKS:
        for flag, value, what in (("--fusion-option", args.fusion_option, "fusion"),
                                  ("--label-weight", args.label_weight, "label loss to weight")):
            if value:
                raise PolymodalError(f"{flag} applies to predictors; --task {args.task} has no {what}")
    if args.task == "caption":
        return _fit_captioner(args)
    if args.task in GENERATION_TASKS:
        return _fit_generator(args)
    from .fusion.options import parse_cli
    from .predict.predictor import Predictor

    predictor = Predictor(
        args.label, fusion=args.fusion, encoders=args.encoders, task=args.task, imbalance=args.imbalance,
        **{"epochs": 40, "batch_size": 128, "lr": 2e-3, **_training_options(args)}, hidden=args.hidden,
        modality_dropout=args.modality_dropout, patience=args.patience, seed=args.seed,
        encoder_mode=args.encoder_mode, baselines=not args.no_baselines, overrides=_overrides(args),
        on_error=args.on_error, require_all=args.require_all, fusion_options=parse_cli(args.fusion_option),
        label_weights=_label_weights(args.label_weight))
    predictor.fit(args.table, out=args.out, resume=args.resume)
    print_comparison(console, predictor.comparison_, predictor.task_.monitor)
    console.print(f"best: [bold]{predictor.fusion_}[/]; run written to {args.out} (report: {args.out}/report.html)")
    return 0


# ---- generation (text-to-image/audio/video): fit --task text-to-X, generate
GENERATION_TASKS = ("text-to-image", "text-to-audio", "text-to-video")


def _fit_generator(args: argparse.Namespace) -> int:
    from .generation import Generator

    options = _training_options(args)
    g = Generator(args.task, model=args.model or "cvae", prompt=args.prompt, target=args.target,
                  text_encoder=args.text_encoder, image_size=args.image_size, seed=args.seed,
                  evaluate_after_fit=not args.no_evaluate, on_error=args.on_error, **options)
    g.fit(args.table, out=args.out, resume=args.resume)
    shown = {k: v for k, v in g.metrics_.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    if shown:
        _print_metrics(shown, f"{g.model} {g.task} on held-out prompts")
    console.print(f"generator written to {args.out} (report: {args.out}/report.html)")
    return 0


def _training_options(args: argparse.Namespace) -> dict:
    """--epochs, --batch-size and --lr when given: unset, each job keeps its own defaults."""
    return {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr))
            if v is not None}


def cmd_generate(args: argparse.Namespace) -> int:
    from .generation.generator import Generator

    g = Generator.load(args.run)  # a run of another kind is refused here, with its kind named
    samples = g.generate(args.prompts, n=args.n, seed=args.seed)
    path = g.write(samples, args.output, columns=args.n)
    console.print(f"{len(samples)} sample(s) written to {path}")
    return 0


def _print_metrics(metrics: dict, title: str) -> None:
    t = RichTable("metric", "value", title=title)
    for k, v in metrics.items():
        t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    console.print(t)
# ---- end of generation


# ---- captioning (fit --task caption, caption) ----
def _fit_captioner(args: argparse.Namespace) -> int:
    from .captioning.captioner import Captioner
    from .captioning.evaluation import comparison_rows
    from .encoders.materialize import parse_encoder_spec

    encoders = list(parse_encoder_spec(args.encoders).values())
    if len(encoders) > 1:
        raise PolymodalError("a captioner has one input: give --encoders one ROLE=NAME")
    captioner = Captioner(args.input or "image", args.target or "caption", args.model or "gru",
                          encoder=encoders[0] if encoders else None, hidden=args.hidden, patience=args.patience,
                          seed=args.seed, overrides=_overrides(args), on_error=args.on_error, **_training_options(args))
    captioner.fit(args.table, out=args.out, resume=args.resume)
    import pandas as pd

    rows = comparison_rows(captioner.metrics_, f"{captioner.decoder} (beam {captioner.metrics_['beam_size']})")
    print_comparison(console, pd.DataFrame(rows), "", title=f"Captions on the {captioner.eval_split_} split")
    console.print(f"run written to {args.out} (report: {args.out}/report.html)")
    return 0


def cmd_caption(args: argparse.Namespace) -> int:
    from .captioning.captioner import Captioner

    captioner = Captioner.load(args.run)
    for path, text in zip(args.files, captioner.caption(args.files, beam_size=args.beam), strict=True):
        print(f"{path}\t{text}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .api import load

    model = load(args.run)
    metrics = model.evaluate(args.table, drop=args.drop) if args.drop else model.evaluate(args.table)
    shown = {k: v for k, v in metrics.items() if not isinstance(v, list | dict)}
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        t = RichTable("metric", "value", title=f"{args.run} on {args.table}" + (
            f" without {', '.join(args.drop)}" if args.drop else ""))
        for k, v in shown.items():
            t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
        console.print(t)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .api import load
    from .predict.predictor import Predictor

    model = load(args.run)
    kwargs = {"with_ids": True} if isinstance(model, Predictor) else {}  # the id columns lead each row
    out = model.predict_proba(args.table, runtime=args.runtime, **kwargs)
    if args.output:
        out.to_csv(args.output, index=False)
        console.print(f"{len(out)} predictions written to {args.output}")
    else:
        print(out.to_csv(index=False), end="")
    return 0


def cmd_runs_compare(args: argparse.Namespace) -> int:
    from .api import compare_runs

    df = compare_runs(args.runs)
    print_comparison(console, df, "", title="Runs")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from .encoders.cache import cache_info, clear_cache

    if args.cache_command == "clear":
        removed = clear_cache(args.encoder)
        if args.encoder and not removed:
            held = sorted({k.split("@")[0] for k in cache_info()})
            raise PolymodalError(f"the feature cache holds no entries of encoder {args.encoder!r}; it holds: "
                                 + (", ".join(held) or "nothing"))
        console.print(f"feature cache cleared: {removed} entries" + (f" of {args.encoder}" if args.encoder else ""))
        return 0
    info = cache_info()
    t = RichTable("encoder id", "entries", "MB", title="Feature cache")
    for key, row in info.items():
        t.add_row(key, str(row.get("entries", "")), f"{row.get('bytes', 0) / 1e6:.1f}")
    console.print(t)
    return 0


def cmd_align(args: argparse.Namespace) -> int:
    from .alignment.aligner import Aligner

    columns = [c.strip() for c in args.pair.split(",")] if args.pair else None
    aligner = Aligner(columns, encoders=args.encoders, loss=args.loss, dim=args.dim, lock=args.lock,
                      epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      overrides=_overrides(args), on_error=args.on_error)
    aligner.fit(args.table, out=args.out)
    for pair, entry in aligner.metrics_["pairs"].items():
        t = RichTable("direction", "method", "R@1", "R@5", "R@10", "chance R@1", title=f"{pair} ({entry['rows']} rows)")
        for method in ("learned", "asif"):
            for direction, m in (entry.get(method) or {}).items():
                t.add_row(direction, method, *(f"{m[f'recall@{k}']:.3f}" for k in (1, 5, 10)),
                          f"{m['chance_recall@1']:.4f}")
        console.print(t)
    console.print(f"aligned run written to {args.out} (report: {args.out}/report.html)")
    return 0


def cmd_index_build(args: argparse.Namespace) -> int:
    from .alignment.search import build_index
    from .api import load

    aligner = load(args.run)
    if args.add:
        index = build_index(aligner, args.table, args.column, add_to=args.out)
    else:
        index = build_index(aligner, args.table, args.column, args.out, kind=args.kind)
    console.print(f"index {args.out}: {len(index)} vectors of {index.dim} dimensions ({index.kind})")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from .alignment.search import search

    hits = search(args.index, text=args.text, image=args.image, audio=args.audio, k=args.k)
    meta = [c for c in hits.columns if c not in ("rank", "score", "table_row", "split")]
    shown = ["rank", "score", *(args.columns.split(",") if args.columns else meta[:4])]
    t = RichTable(*shown, title=f"top {len(hits)}")
    for row in hits[shown].itertuples(index=False):
        t.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console.print(t)
    if args.html:
        from .report.contact_sheet import contact_sheet

        path = contact_sheet(hits, args.html, query=args.text or args.image or args.audio)
        console.print(f"contact sheet: {path}")
    return 0


def cmd_zero_shot(args: argparse.Namespace) -> int:
    from .alignment.zero_shot import zero_shot
    from .api import load

    result = zero_shot(load(args.run), args.table, label=args.label, column=args.column)
    console.print(f"zero-shot accuracy of {args.column!r} -> {args.label!r}: {result['accuracy']:.3f} on "
                  f"{result['n']} rows, {result['classes']} classes (chance {result['chance']:.3f})")
    if args.output:
        import pandas as pd

        pd.DataFrame({"prediction": result["predictions"]}).to_csv(args.output, index=False)
    return 0


# ---------------------------------------------------------------- serving and export
def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    serve(args.targets, host=args.host, port=args.port, runtime=args.runtime, max_upload_mb=args.max_upload_mb,
          timeout_s=args.timeout, batching=args.batching)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export.run_export import export_run

    parity = export_run(args.run, args.out, samples=args.samples, rows=args.rows, fmt=args.format)
    console.print(f"exported {args.run} to {args.out}: head max abs diff {parity['head_max_abs_diff']:.2e} "
                  f"on {parity['rows']} {parity['samples']}" + (
                      f", end to end {parity['end_to_end_max_abs_diff']:.2e}" if "end_to_end_max_abs_diff" in parity
                      else "") + f" (written to {args.out}/parity.json)")
    return 0


def _add_serve_parsers(sub) -> None:
    p = sub.add_parser("serve", help="serve runs and indexes over HTTP, with a web page (FastAPI + uvicorn)")
    p.add_argument("targets", nargs="+", metavar="RUN_OR_INDEX", help="run directories and index folders")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--runtime", choices=("torch", "onnx"), default="torch", help="fusion + head on PyTorch or ONNX "
                   "Runtime (frozen encoders use ONNX Runtime either way where they export)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest file a request may upload")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds a request may take (then 504)")
    p.add_argument("--batching", action="store_true", help="batch concurrent /predict requests (off by default: "
                   "it did not pay with ONNX Runtime encoders on a small CPU, see BENCHMARKS.md)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export", help="export a predictor run to ONNX, checked against PyTorch")
    p.add_argument("run")
    p.add_argument("--format", default="onnx", choices=("onnx",))
    p.add_argument("--out", required=True, help="folder for model.onnx, encoders/, export.json, parity.json")
    p.add_argument("--samples", metavar="TABLE", help="real rows to check parity on (default: random features)")
    p.add_argument("--rows", type=int, default=32, help="rows of --samples to use")
    p.set_defaults(func=cmd_export)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(out=Path(args.out), console=console)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polymodal", description="Multimodal learning on your own table.")
    parser.add_argument("--version", action="version", version=f"polymodal {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("inspect", help="show the detected schema, counts, labels and problems of a table")
    p.add_argument("table", help="CSV, TSV, Parquet or JSONL file (or a folder holding table.parquet)")
    _add_schema_flags(p)
    p.add_argument("--skipped", metavar="CSV", help="write the problems found to this CSV")
    p.add_argument("--no-check", action="store_true", help="do not open the media files")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_inspect)

    data = sub.add_parser("data", help="build the bundled data set recipes").add_subparsers(
        dest="data_command", required=True, metavar="ACTION")
    p = data.add_parser("list", help="list the recipes")
    p.set_defaults(func=cmd_data_list)
    p = data.add_parser("build", help="build a recipe into a folder (cached: re-running is instant)")
    p.add_argument("name")
    p.add_argument("--out", help="folder (default: $POLYMODAL_HOME/data/NAME)")
    p.add_argument("--size", type=int, help="number of rows (default: the recipe's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a recipe option (see data list)")
    p.set_defaults(func=cmd_data_build)

    p = sub.add_parser("fusions", help="list the fusions, the paper behind each, and their options")
    p.set_defaults(func=cmd_fusions)

    p = sub.add_parser("fit", help="fit a multimodal predictor on a table and write a run directory")
    p.add_argument("table")
    _add_schema_flags(p)
    p.add_argument("--fusion", default="concat", help="fusion name, comma list, or 'all' (see `polymodal fusions`)")
    p.add_argument("--fusion-option", action="append", metavar="[FUSION.]KEY=VALUE",
                   help="a fusion's constructor option, e.g. gated.gate_rank=0 or attention.width=32 (repeat; "
                        "without FUSION. it reaches every fusion trained)")
    p.add_argument("--encoders", help="e.g. image=efficientnet-lite0,text=minilm,audio=mfcc (role or column)")
    p.add_argument("--encoder-mode", choices=("frozen", "last", "full"), help="override every encoder's mode")
    p.add_argument("--task", default="auto", choices=("auto", "classification", "multilabel", "regression",
                                                      "caption", *GENERATION_TASKS))
    p.add_argument("--imbalance", default="none", choices=("none", "weighted", "focal", "sampler"),
                   help="classification labels: class-weighted loss, focal loss, or class-balanced sampling")
    p.add_argument("--label-weight", action="append", metavar="COL=WEIGHT",
                   help="several labels: the weight of COL's loss (repeat; default 1 each)")
    p.add_argument("--epochs", type=int, help="default: 40 (predictor, captioner); generators: enough for about "
                   "4,000 batches (cvae) or 6,000 (GANs)")
    p.add_argument("--batch-size", type=int, help="default: 128 (predictor), 64 (generator)")
    p.add_argument("--lr", type=float, help="default: 2e-3 (predictor), 1e-4 (GAN generator; 4x for its "
                   "discriminator), 1e-3 (VAE)")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--modality-dropout", type=float, default=0.2)
    p.add_argument("--patience", type=int, default=8, help="early stopping: epochs without improvement")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-baselines", action="store_true", help="skip the unimodal baselines")
    p.add_argument("--require-all", action="store_true", help="treat an empty cell as an error")
    p.add_argument("--out", default="runs/latest", help="run directory (default: runs/latest)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted fit in --out")
    # generative tasks (--task caption, ...); "resolve": another task's block may declare the same flags
    p.conflict_handler = "resolve"
    p.add_argument("--input", metavar="COL", help="caption: the image or audio column (default: image)")
    p.add_argument("--target", metavar="COL", help="the column to generate (caption: default caption; "
                   "text-to-X: default image, audio or video)")
    p.add_argument("--model", metavar="NAME", help="generative model (caption: gru or transformer; text-to-X: "
                   "cvae (default), cgan or unconditional)")
    gen = p.add_argument_group("generation (--task text-to-image|text-to-audio|text-to-video)")
    gen.add_argument("--prompt", default="caption", help="the text column to generate from (default: caption)")
    gen.add_argument("--text-encoder", default="minilm", choices=("minilm", "gru"),
                     help="prompt embedding: frozen MiniLM (default) or a GRU trained with the model")
    gen.add_argument("--image-size", type=int, default=32, help="side of generated images and clip frames")
    gen.add_argument("--no-evaluate", action="store_true", help="skip the evaluation on held-out prompts after "
                     "fitting (it trains attribute readers and, for images, an alignment model)")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("generate", help="generate images, sounds or clips from text with a generator run")
    p.add_argument("run", help="a generator run directory (polymodal fit --task text-to-...)")
    p.add_argument("prompts", nargs="+", metavar="TEXT", help="one or more prompts")
    p.add_argument("-n", type=int, default=8, help="samples per prompt (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="out.png (images), out.wav (audio) or "
                   "out.gif (clips)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("align", help="learn a shared embedding space for two or three columns (search, zero-shot)")
    p.add_argument("table")
    _add_schema_flags(p)
    p.add_argument("--pair", metavar="COL,COL[,COL]", help="the columns to align (default: every image/audio/text "
                   "column)")
    p.add_argument("--encoders", help="e.g. image=efficientnet-lite0,text=minilm,audio=mfcc")
    p.add_argument("--loss", choices=("infonce", "siglip"), default="infonce")
    p.add_argument("--dim", type=int, default=256, help="size of the shared space")
    p.add_argument("--lock", action="append", metavar="COL", help="LiT: keep this column's pretrained features as "
                   "its embedding and map the others into them")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/align")
    p.set_defaults(func=cmd_align)

    index = sub.add_parser("index", help="vector indexes for search").add_subparsers(
        dest="index_command", required=True, metavar="ACTION")
    p = index.add_parser("build", help="embed a table's column with an alignment run into a FAISS index")
    p.add_argument("run", help="an alignment run directory (polymodal align)")
    p.add_argument("table")
    p.add_argument("--column", required=True, help="the column to embed (one of the run's aligned columns)")
    p.add_argument("--out", required=True, help="index folder")
    p.add_argument("--kind", choices=("flat", "hnsw", "ivf"), default="flat", help="flat is exact (default)")
    p.add_argument("--add", action="store_true", help="append to the existing index at --out")
    p.set_defaults(func=cmd_index_build)

    p = sub.add_parser("search", help="query an index by text, image or audio")
    p.add_argument("index")
    query = p.add_mutually_exclusive_group(required=True)
    query.add_argument("--text")
    query.add_argument("--image", metavar="FILE")
    query.add_argument("--audio", metavar="FILE")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--html", metavar="FILE", help="also write an HTML contact sheet of the hits")
    p.add_argument("--columns", metavar="COL,COL", help="metadata columns to print (default: the first four)")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("zero-shot", help="classify a column through an alignment, against label names as prompts")
    p.add_argument("run", help="an alignment run with a text column")
    p.add_argument("table")
    p.add_argument("--label", required=True, help="the column whose values are the classes")
    p.add_argument("--column", required=True, help="the image/audio column to classify")
    p.add_argument("-o", "--output", metavar="CSV", help="write the predictions here")
    p.set_defaults(func=cmd_zero_shot)

    p = sub.add_parser("caption", help="captions of image or audio files by a captioning run")
    p.add_argument("run", help="a run of polymodal fit --task caption")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--beam", type=int, default=None, help="beam size (1: greedy; default: the run's, 3)")
    p.set_defaults(func=cmd_caption)

    p = sub.add_parser("evaluate", help="metrics of a run on a labelled table")
    p.add_argument("run")
    p.add_argument("table")
    p.add_argument("--drop", action="append", metavar="MODALITY", help="hide a modality (column or role)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="predictions and probabilities of a run for a table")
    p.add_argument("run")
    p.add_argument("table")
    p.add_argument("-o", "--output", metavar="CSV", help="write here instead of standard output")
    p.add_argument("--runtime", choices=("torch", "onnx"), default="torch", help="fusion + head on PyTorch or ONNX "
                   "Runtime")
    p.set_defaults(func=cmd_predict)

    runs = sub.add_parser("runs", help="work with run directories").add_subparsers(
        dest="runs_command", required=True, metavar="ACTION")
    p = runs.add_parser("compare", help="compare the metrics of several runs")
    p.add_argument("runs", nargs="+")
    p.set_defaults(func=cmd_runs_compare)

    cache = sub.add_parser("cache", help="the feature cache of frozen encoders").add_subparsers(
        dest="cache_command", required=True, metavar="ACTION")
    p = cache.add_parser("info", help="entries and size per encoder")
    p.set_defaults(func=cmd_cache)
    p = cache.add_parser("clear", help="delete cached features")
    p.add_argument("--encoder", help="only this encoder id")
    p.set_defaults(func=cmd_cache)

    _add_serve_parsers(sub)

    p = sub.add_parser("demo", help="the main job on the built-in data: build it, inspect it, report")
    p.add_argument("--out", default="polymodal-demo", help="output folder (default: ./polymodal-demo)")
    p.set_defaults(func=cmd_demo)
    return parser


def _plain_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A user's warnings as `warning: ...` lines, without the source file and line Python adds."""
    print(f"warning: {message}", file=sys.stderr if file is None else file)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    shown = warnings.showwarning
    warnings.showwarning = _plain_warning
    try:
        return args.func(args)
    except PolymodalError as exc:
        print(f"error: {exc}", file=sys.stderr)  # plain: paths must not be wrapped or styled
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return 130
    finally:
        warnings.showwarning = shown


if __name__ == "__main__":
    sys.exit(main())
