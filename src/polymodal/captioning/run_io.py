"""A Captioner's run directory:

    polymodal.json        kind "captioner", task "caption", format, the fit arguments (written last)
    captioner.json        input/target columns, input role, encoder (name + config), token shape,
                          decoder and its options, caption length limits
    tokenizer.json        the tokenizer learned from the training captions, vocabulary included
    weights.safetensors   the caption model
    baseline.safetensors  the nearest-neighbour baseline's training features; baseline.json its captions
    metrics.json, history.json, examples.json, report.html, plots/

Nothing is unpickled: loading a run never executes code from it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .. import __version__
from ..encoders.base import build_encoder
from ..errors import PolymodalError
from ..run import FORMAT, check_run, load_tensors, read_json, save_tensors, write_json
from ..text.tokenizer import Tokenizer
from ..training.checkpoint import atomic_write_text

ARGS = ("input", "target", "decoder", "encoder", "hidden", "dropout", "decoder_options", "tokenizer",
        "min_frequency", "max_len", "epochs", "batch_size", "lr", "weight_decay", "label_smoothing", "patience",
        "beam_size", "length_penalty", "seed", "overrides", "on_error", "threads")
FILES = ("captioner.json", "tokenizer.json", "weights.safetensors", "baseline.safetensors", "baseline.json")


def save_captioner(c, run: Path) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    c.run_dir_ = run
    write_json(run / "captioner.json", {
        "input": c.input_, "input_role": c.input_role, "target": c.target_,
        "encoder": {"name": c.encoder_.name, "config": c.encoder_.config()}, "token_shape": list(c.token_shape_),
        "decoder": c.decoder, "hidden": c.hidden, "dropout": c.dropout, "decoder_options": c.decoder_options,
        "max_len": c.max_len, "gen_len": c.gen_len_, "vocab_size": c.tokenizer_.vocab_size})
    atomic_write_text(run / "tokenizer.json", c.tokenizer_.to_json())
    save_tensors(c.model_.state_dict(), run / "weights.safetensors")
    save_tensors({"features": c.baseline_.features}, run / "baseline.safetensors")
    atomic_write_text(run / "baseline.json", json.dumps({"captions": c.baseline_.captions}, ensure_ascii=False))
    if hasattr(c, "metrics_"):
        # "monitor" names the headline metric of each split's dict, as `polymodal runs compare` reads it
        write_json(run / "metrics.json", {"task": "caption", "monitor": "bleu_4", "best": c.decoder,
                                          "eval_split": c.eval_split_, "splits": c.split_sizes_,
                                          "fit_seconds": round(c.fit_seconds_, 2),
                                          "train_seconds": round(c.train_seconds_, 2), "best_epoch": c.best_epoch_,
                                          **{c.eval_split_: c.metrics_}})
        write_json(run / "history.json", c.history_)
        write_json(run / "examples.json", c.examples_)
        from .report import write_caption_report

        write_caption_report(c, run)
    write_json(run / "polymodal.json", {"format": FORMAT, "kind": "captioner", "task": "caption",
                                        "polymodal": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                        "fit": {k: getattr(c, k) for k in ARGS}})
    return run


def load_captioner(path: str | Path):
    from .baseline import NearestCaption
    from .captioner import Captioner
    from .model import CaptionModel

    run = check_run(path, kind="captioner")
    missing = [f for f in FILES if not (run / f).exists()]
    if missing:
        raise PolymodalError(f"{run}: run directory is missing {', '.join(missing)}")
    meta = read_json(run / "polymodal.json")
    c = Captioner(**{k: v for k, v in meta["fit"].items() if k in ARGS})
    cfg = read_json(run / "captioner.json")
    c.input_, c.input_role, c.target_ = cfg["input"], cfg["input_role"], cfg["target"]
    c.encoder_ = build_encoder(cfg["encoder"]["name"], **cfg["encoder"]["config"]).set_mode("frozen")
    c.token_shape_, c.gen_len_ = tuple(cfg["token_shape"]), cfg["gen_len"]
    c.tokenizer_ = Tokenizer.from_json((run / "tokenizer.json").read_text())
    c.model_ = CaptionModel(*c.token_shape_, cfg["vocab_size"], decoder=cfg["decoder"], hidden=cfg["hidden"],
                            dropout=cfg["dropout"], max_len=cfg["max_len"], decoder_options=cfg["decoder_options"])
    c.model_.load_state_dict(load_tensors(run / "weights.safetensors"))
    c.model_.eval()
    captions = json.loads((run / "baseline.json").read_text())["captions"]
    c.baseline_ = NearestCaption(load_tensors(run / "baseline.safetensors")["features"], captions, normalized=True)
    c.run_dir_ = run
    c.metrics_ = read_json(run / "metrics.json") if (run / "metrics.json").exists() else {}
    c.history_ = read_json(run / "history.json") if (run / "history.json").exists() else []
    return c
