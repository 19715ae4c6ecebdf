"""A Generator's run directory:

    RUN/polymodal.json        kind "generator", the task, format and polymodal versions, the fit arguments
    RUN/generator.json        output medium (with its learned loudness range), model name and options,
                              text encoder and tokenizer, prompt/target columns, preview prompts
    RUN/weights.safetensors   every network of the model (no pickle)
    RUN/metrics.json, history.json, samples/epoch-NNNN.png|gif, report.html

The frozen MiniLM is not copied into the run: it is rebuilt from its package.
"""

from __future__ import annotations

import time
from pathlib import Path

from .. import __version__
from ..errors import PolymodalError
from ..run import FORMAT, check_run, load_tensors, read_json, save_tensors, write_json
from .conditioning import Prompts
from .media import medium_from_config

ARGS = ("task", "model", "prompt", "target", "text_encoder", "image_size", "frames", "seconds", "n_mels",
        "audio_frames", "z_dim", "cond_dim", "width", "epochs", "batch_size", "lr", "seed", "model_options",
        "attributes", "on_error")


def save_generator(g, run: Path) -> Path:
    import shutil

    run.mkdir(parents=True, exist_ok=True)
    write_json(run / "generator.json", {"medium": g.medium_.config(), "model": g.model, "shape": g.model_.shape,
                                        "options": g.model_.options(), "tokenizer": g.tokenizer_,
                                        "preview_prompts": g.preview_prompts_})
    save_tensors(g.model_.state_dict(), run / "weights.safetensors")
    if hasattr(g, "fit_seconds_"):
        write_json(run / "metrics.json", {"task": g.task, "model": g.model, "splits": g.split_sizes_,
                                          "fit_seconds": round(g.fit_seconds_, 2),
                                          "train_seconds": round(g.train_seconds_, 2), **g.metrics_})
        write_json(run / "history.json", g.history_)
        from .report import write_generator_report

        write_generator_report(g, run)
    write_json(run / "polymodal.json", {"format": FORMAT, "kind": "generator", "task": g.task,
                                        "polymodal": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                        "fit": {k: getattr(g, k) for k in ARGS}})  # written last: the marker
    shutil.rmtree(run / "checkpoint", ignore_errors=True)  # the run is complete: nothing left to resume
    g.run_dir_ = run
    return run


def load_generator(path: str | Path):
    from .base import build_model
    from .generator import Generator

    run = check_run(path, kind="generator")
    if not (run / "generator.json").exists():
        raise PolymodalError(f"{run}: run directory is missing generator.json")
    meta = read_json(run / "polymodal.json")
    g = Generator(**{k: v for k, v in meta["fit"].items() if k in ARGS}, progress=False)
    cfg = read_json(run / "generator.json")
    g.medium_, g.tokenizer_, g.preview_prompts_ = medium_from_config(cfg["medium"]), cfg["tokenizer"], \
        cfg["preview_prompts"]
    g.prompts_ = Prompts(g.text_encoder, g.tokenizer_)
    g.model_ = build_model(cfg["model"], tuple(cfg["shape"]), text_encoder=g.text_encoder, tokenizer=g.tokenizer_,
                           z_dim=g.z_dim, cond_dim=g.cond_dim, width=g.width, **cfg["options"])
    g.model_.load_state_dict(load_tensors(run / "weights.safetensors"))
    g.model_.eval()
    g.run_dir_ = run
    g.metrics_ = read_json(run / "metrics.json") if (run / "metrics.json").exists() else {}
    g.history_ = read_json(run / "history.json") if (run / "history.json").exists() else []
    return g
