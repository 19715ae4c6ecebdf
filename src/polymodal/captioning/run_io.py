"""A Captioner's own files in its run directory (the envelope is runs/directory.py's):

    captioner.json        input/target columns, input role, encoder (name + config), token shape,
                          decoder and its options, caption length limits
    tokenizer.json        the tokenizer learned from the training captions, vocabulary included
    weights.safetensors   the caption model
    baseline.safetensors  the nearest-neighbour baseline's training features; baseline.json its captions
    examples.json         a few inputs with their references, the model's captions and the baseline's

Nothing is unpickled: loading a run never executes code from it.
"""

from __future__ import annotations

from pathlib import Path

from ..encoders.base import build_encoder
from ..errors import PolymodalError
from ..runs.files import atomic_write, load_tensors, read_json, save_tensors, write_json
from ..text.tokenizer import Tokenizer


def save_state(c, run: Path) -> None:
    write_json(run / "captioner.json", {
        "input": c.input_, "input_role": c.input_role, "target": c.target_,
        "encoder": {"name": c.encoder_.name, "config": c.encoder_.config()}, "token_shape": list(c.token_shape_),
        "decoder": c.decoder, "hidden": c.hidden, "dropout": c.dropout, "decoder_options": c.decoder_options or {},
        "max_len": c.max_len, "gen_len": c.gen_len_, "vocab_size": c.tokenizer_.vocab_size,
        "answer": c.answer_, "choice": c.choice_})
    atomic_write(run / "tokenizer.json", c.tokenizer_.to_json())
    save_tensors(c.model_.state_dict(), run / "weights.safetensors")
    save_tensors({"features": c.baseline_.features}, run / "baseline.safetensors")
    write_json(run / "baseline.json", {"captions": c.baseline_.captions})


def load_state(c, run: Path) -> None:
    from .baseline import NearestCaption
    from .model import CaptionModel

    cfg = read_json(run / "captioner.json")
    c.input_, c.input_role, c.target_ = cfg["input"], cfg["input_role"], cfg["target"]
    c.encoder_ = build_encoder(cfg["encoder"]["name"], **cfg["encoder"]["config"]).set_mode("frozen")
    c.token_shape_, c.gen_len_ = tuple(cfg["token_shape"]), cfg["gen_len"]
    c.answer_, c.choice_ = cfg.get("answer", "model"), cfg.get("choice", {})  # runs before the choice: the model
    try:
        c.tokenizer_ = Tokenizer.from_json((run / "tokenizer.json").read_text(encoding="utf-8"))
    except (PolymodalError, UnicodeDecodeError) as exc:
        raise PolymodalError(f"{run / 'tokenizer.json'}: {exc}; re-run the fit that wrote it") from exc
    c.model_ = CaptionModel(*c.token_shape_, cfg["vocab_size"], decoder=cfg["decoder"], hidden=cfg["hidden"],
                            dropout=cfg["dropout"], max_len=cfg["max_len"], decoder_options=cfg["decoder_options"])
    c.model_.load_state_dict(load_tensors(run / "weights.safetensors"))
    c.model_.eval()
    captions = read_json(run / "baseline.json")["captions"]
    c.baseline_ = NearestCaption(load_tensors(run / "baseline.safetensors")["features"], captions, normalized=True)


def card_sections(c, summary: dict) -> list[tuple[str, str]]:
    split = summary.get("eval_split", "val")
    m = summary.get(split, {})
    rows = ["| metric | model | nearest-neighbour baseline |", "|---|---|---|"]
    for key in ("bleu_4", "cider_d", "exact_match"):
        if key in m:
            rows.append(f"| {key} | {m[key]:.4f} | {m.get(f'nn_{key}', float('nan')):.4f} |")
    answer = ("" if c.answer_ == "model" else
              f" **It answers with the nearest-neighbour baseline**: the decoder scored a lower BLEU-4 on the "
              f"{c.choice_.get('rows', '?')} validation rows ({c.choice_.get('model_bleu_4', float('nan')):.4f} "
              f"against {c.choice_.get('nearest_bleu_4', float('nan')):.4f}), so it is not used.")
    return [("Model", f"Captions `{c.target_}` from the {c.input_role} in `{c.input_}`: a {c.decoder} decoder over "
                      f"frozen `{c.encoder_.name}` features, beam {c.beam_size}.{answer}"),
            (f"Metrics on the {split} split", "\n".join(rows)),
            ("Limits", "Writes only words of its training captions' vocabulary, in their style.")]
