"""The encoder contract, checked for every registered encoder that needs no pretrained weights.

A new encoder is picked up automatically; `TINY` only shrinks known ones so the
suite stays fast. Inputs come from each encoder's own `loader()` on files the
test writes, so encoder and loader are checked together.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from tests.conftest import write_image, write_tone

from polymodal.encoders import ENCODERS, build_encoder, load_all

load_all()
CASES = [(name, role) for name, spec in sorted(ENCODERS.items())
         if not spec.pretrained and name != "hf" for role in spec.roles]
TINY = {
    "cnn": {"image_size": 16, "width": 4, "out_dim": 8},
    "video-cnn": {"frames": 3, "frame_size": 8, "width": 4, "out_dim": 8},
    "audio-cnn": {"seconds": 0.25, "n_mels": 16, "width": 4, "out_dim": 8},
    "gru": {"embed_dim": 8, "hidden": 8, "out_dim": 8},
    "transformer-text": {"dim": 8, "heads": 2, "out_dim": 8, "max_len": 16},
    "numeric": {"hidden": 8, "out_dim": 4},
    "categorical": {"out_dim": 4},
    "tabular": {"roles": {"size": "numeric", "colour": "categorical"}, "hidden": 8, "out_dim": 4},
}
SINGLE_BLOCK = {"categorical"}  # one lookup table: "last" is all of it, by design
B = 4


def test_every_scratch_encoder_is_covered():
    names = {name for name, _ in CASES}
    assert {"cnn", "video-cnn", "audio-cnn", "gru", "transformer-text", "numeric", "categorical", "tabular"} <= names


def _cells(role: str, tmp_path) -> list:
    """B raw training cells of one role (file paths for file roles)."""
    rng = np.random.default_rng(0)
    if role == "image":
        return [write_image(tmp_path / f"{i}.png", tuple(int(c) for c in rng.integers(0, 256, 3)), size=(20, 14))
                for i in range(B)]
    if role == "audio":
        return [write_tone(tmp_path / f"{i}.wav", freq=200.0 * (i + 1), seconds=0.2) for i in range(B)]
    if role == "video":
        paths = []
        for i in range(B):
            frames = [Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)) for _ in range(2)]
            frames[0].save(tmp_path / f"{i}.gif", save_all=True, append_images=frames[1:])
            paths.append(tmp_path / f"{i}.gif")
        return paths
    if role == "text":
        return ["a red circle", "the BIG blue square!", "", "a small red triangle near a circle"]
    if role == "numeric":
        return [1.5, -2.0, float("nan"), 10.0]
    if role == "categorical":
        return ["red", "blue", "red", "green"]
    if role == "tabular":  # a group's cells: the row's member values (a missing one, an all-empty row as None)
        return [{"size": 1.5, "colour": "red"}, {"size": float("nan"), "colour": "blue"}, None,
                {"size": 10.0, "colour": "green"}]
    raise AssertionError(f"no sample cells for role {role!r}: add them to this fixture")


def _batch(encoder, cells):
    loader = encoder.loader()
    items = [loader.empty() if c is None or (isinstance(c, float) and np.isnan(c)) else loader(c) for c in cells]
    if isinstance(items[0], str):  # text, categorical: an unseen value too
        return [*items[:-1], loader("zzz unseen")]
    return torch.stack(items)


def _make(name: str, role: str, tmp_path, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    encoder = build_encoder(name, **{**TINY.get(name, {}), **overrides})
    cells = _cells(role, tmp_path)
    encoder.prepare(cells)
    return encoder, _batch(encoder, cells)


def _loss(out) -> torch.Tensor:
    """A loss that touches every output element with a different weight."""
    gen = torch.Generator().manual_seed(1)
    loss = (out.pooled * torch.randn(out.pooled.shape, generator=gen)).sum()
    if out.tokens is not None:
        loss = loss + (out.tokens * torch.randn(out.tokens.shape, generator=gen)).sum()
    return loss


def _eval(encoder, batch):
    encoder.eval()
    with torch.no_grad():
        return encoder(batch)


@pytest.fixture(params=CASES, ids=[f"{n}-{r}" for n, r in CASES])
def case(request, tmp_path):
    name, role = request.param
    return name, role, tmp_path


def test_output_shapes_and_empty_inputs(case):
    name, role, tmp_path = case
    encoder, batch = _make(name, role, tmp_path)
    assert role in encoder.roles and encoder.out_dim > 0
    out = _eval(encoder, batch)
    assert out.pooled.shape == (B, encoder.out_dim) and torch.isfinite(out.pooled).all()
    if out.tokens is not None:
        assert out.tokens.ndim == 3 and out.tokens.shape[0] == B and out.tokens.shape[2] == encoder.out_dim
        assert torch.isfinite(out.tokens).all()
    empty = encoder.loader().empty()  # what an absent cell becomes in a batch
    absent = [empty] * 2 if isinstance(empty, str) else torch.stack([empty] * 2)
    assert torch.isfinite(_eval(encoder, absent).pooled).all()


def test_full_mode_gradients_reach_every_parameter(case):
    name, role, tmp_path = case
    encoder, batch = _make(name, role, tmp_path)
    encoder.set_mode("full").train()
    _loss(encoder(batch)).backward()
    params = dict(encoder.named_parameters())
    assert params and all(p.requires_grad for p in params.values())
    dead = [n for n, p in params.items() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"no gradient reaches {dead}"


def test_frozen_mode_has_no_trainable_parameters_and_stays_in_eval(case):
    name, role, tmp_path = case
    encoder, batch = _make(name, role, tmp_path)
    encoder.set_mode("frozen")
    encoder.train()
    assert not any(p.requires_grad for p in encoder.parameters())
    assert not any(m.training for m in encoder.modules())
    assert not encoder(batch).pooled.requires_grad


def test_last_mode_trains_a_strict_subset(case):
    name, role, tmp_path = case
    encoder, batch = _make(name, role, tmp_path)
    encoder.set_mode("last").train()
    trainable = {n for n, p in encoder.named_parameters() if p.requires_grad}
    everything = {n for n, _ in encoder.named_parameters()}
    assert trainable, "last mode trains nothing"
    if name not in SINGLE_BLOCK:
        assert trainable < everything, "last mode trains everything"
    _loss(encoder(batch)).backward()
    for n, p in encoder.named_parameters():
        assert (p.grad is not None) == (n in trainable), n


def test_same_seed_same_output(case):
    name, role, tmp_path = case
    first = _eval(*_make(name, role, tmp_path, seed=3))
    second = _eval(*_make(name, role, tmp_path, seed=3))
    assert torch.equal(first.pooled, second.pooled)


def test_config_round_trip_rebuilds_the_same_function(case):
    name, role, tmp_path = case
    encoder, batch = _make(name, role, tmp_path)
    with torch.no_grad():  # move weights and running stats off their initial values
        for p in encoder.parameters():
            p.add_(0.01 * torch.randn_like(p))
    encoder.train()
    encoder(batch)
    config = json.loads(json.dumps(encoder.config()))  # JSON-able, flat
    torch.manual_seed(99)  # a different init: only config + state_dict may carry the function
    rebuilt = build_encoder(name, **config)
    rebuilt.load_state_dict(encoder.state_dict())
    assert rebuilt.config() == config
    assert rebuilt.id == encoder.id and name in encoder.id and encoder.loader().id in encoder.id
    expected, got = _eval(encoder, batch), _eval(rebuilt, batch)
    assert torch.equal(expected.pooled, got.pooled)
    assert (expected.tokens is None) == (got.tokens is None)
    if expected.tokens is not None:
        assert torch.equal(expected.tokens, got.tokens)


def test_id_is_stable_and_tracks_the_config(case):
    name, role, tmp_path = case
    encoder, _ = _make(name, role, tmp_path)
    again, _ = _make(name, role, tmp_path, seed=5)
    assert encoder.id == again.id  # weights differ, the function's recipe does not
    if "out_dim" in encoder.config():
        other, _ = _make(name, role, tmp_path, out_dim=encoder.out_dim + 1)
        assert other.id != encoder.id
