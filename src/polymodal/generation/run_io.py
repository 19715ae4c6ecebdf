"""A Generator's own files in its run directory (the envelope is runs/directory.py's):

    RUN/generator.json        output medium (with its learned loudness range), model name and options,
                              text encoder and tokenizer, preview prompts
    RUN/weights.safetensors   every network of the model
    RUN/samples/epoch-NNNN.png|gif  the preview grid after each epoch (the report's)

The frozen MiniLM is not copied into the run: it is rebuilt from its package.
"""

from __future__ import annotations

from pathlib import Path

from ..runs.files import load_tensors, read_json, save_tensors, write_json
from ..training.layout import channels_last
from .conditioning import Prompts
from .media import medium_from_config


def save_state(g, run: Path) -> None:
    write_json(run / "generator.json", {"medium": g.medium_.config(), "model": g.model, "shape": g.model_.shape,
                                        "options": g.model_.options(), "tokenizer": g.tokenizer_,
                                        "preview_prompts": g.preview_prompts_})
    save_tensors(g.model_.state_dict(), run / "weights.safetensors")


def load_state(g, run: Path) -> None:
    from .base import build_model

    cfg = read_json(run / "generator.json")
    g.medium_, g.tokenizer_, g.preview_prompts_ = medium_from_config(cfg["medium"]), cfg["tokenizer"], \
        cfg["preview_prompts"]
    g.prompts_ = Prompts(g.text_encoder, g.tokenizer_)
    g.model_ = build_model(cfg["model"], tuple(cfg["shape"]), text_encoder=g.text_encoder, tokenizer=g.tokenizer_,
                           z_dim=g.z_dim, cond_dim=g.cond_dim, width=g.width, **cfg["options"])
    g.model_.load_state_dict(load_tensors(run / "weights.safetensors"))
    # The fitted model's convolution weights are channels-last (the trainer's layout): oneDNN picks other
    # kernels, whose float sums may round differently, for another layout. Restoring it makes a loaded
    # generator sample bit-identically to the fitted one on any CPU, not only where both kernels agree.
    channels_last(g.model_)
    g.model_.eval()


def card_sections(g, summary: dict) -> list[tuple[str, str]]:
    shown = {k: v for k, v in summary.items() if isinstance(v, float) and k not in ("fit_seconds", "train_seconds")}
    rows = ["| metric | value |", "|---|---|", *(f"| {k} | {v:.4f} |" for k, v in shown.items())]
    source = f"the images of `{g.source}` (unpaired translation)" if g.task == "image-to-image" else \
        f"the prompt column `{g.prompt}`, prompts embedded by `{g.text_encoder}`"
    return [("Model", f"`{g.model}` for {g.task}: generates `{g.target_column}` ({g.output_role}) from {source}."),
            ("Metrics on held-out prompts", "\n".join(rows) if shown else "Not evaluated (evaluate_after_fit=False)."
             ),
            ("Limits", "Small models trained on this table alone: expect the table's own subjects and style; "
             "the report compares them with the unconditional model and the real-vs-real floor where measured.")]
