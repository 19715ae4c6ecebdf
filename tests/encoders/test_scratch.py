"""Encoders trained from scratch: they learn a simple two-class problem, and their edge cases hold."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from polymodal.data.audio import log_mel
from polymodal.encoders import build_encoder
from polymodal.errors import PolymodalError
from polymodal.text.tokenizer import UNK_ID

N = 8  # examples per class


def _train(encoder, x0, x1, steps: int = 30, lr: float = 1e-2) -> tuple[float, float, float]:
    """A linear head on the pooled features, trained with the encoder.

    Returns the first and last loss and the accuracy of the last step (in training mode:
    after so few steps, batch-norm running statistics still lag behind the weights).
    """
    torch.manual_seed(0)
    head = nn.Linear(encoder.out_dim, 1)
    opt = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=lr)
    batch = torch.cat([x0, x1]) if isinstance(x0, torch.Tensor) else [*x0, *x1]
    y = torch.tensor([0.0] * len(x0) + [1.0] * len(x1))
    encoder.set_mode("full").train()
    losses = []
    for _ in range(steps):
        logits = head(encoder(batch).pooled).squeeze(-1)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    accuracy = ((logits > 0).float() == y).float().mean().item()
    return losses[0], losses[-1], accuracy


def _assert_learns(encoder, x0, x1, **kwargs):
    first, last, accuracy = _train(encoder, x0, x1, **kwargs)
    assert last < 0.3 * first and last < 0.2, (first, last)
    assert accuracy == 1.0


# ---- images and video ---------------------------------------------------------------------------------

def _images(bright: bool, n: int = N, size: int = 16) -> torch.Tensor:
    pixels = torch.rand(n, 3, size, size) * 0.3 + (0.7 if bright else 0.0)  # in [0, 1]
    return (pixels - 0.5) / 0.5  # what ImageLoader(mean=std=0.5) produces


def test_cnn_learns_bright_vs_dark():
    torch.manual_seed(0)
    encoder = build_encoder("cnn", image_size=16, width=8, out_dim=16)
    _assert_learns(encoder, _images(False), _images(True))


def test_cnn_tokens_are_the_feature_grid():
    encoder = build_encoder("cnn", image_size=32, width=4, out_dim=8).eval()
    out = encoder(torch.randn(2, 3, 32, 32))
    assert out.tokens.shape == (2, 4, 8)  # 32 / 16 = 2 -> 2 x 2 grid
    assert torch.allclose(out.pooled, out.tokens.mean(dim=1), atol=1e-6)
    assert encoder.loader().size == 32 and encoder.loader().mean == (0.5, 0.5, 0.5)
    with pytest.raises(PolymodalError, match="image_size"):
        build_encoder("cnn", image_size=8)


def _moving_dots(left_to_right: bool, n: int = N, frames: int = 4, size: int = 8) -> torch.Tensor:
    clips = torch.zeros(n, frames, 3, size, size)
    for i in range(n):
        row = i % size
        for t in range(frames):
            col = 2 * t if left_to_right else size - 1 - 2 * t
            clips[i, t, :, row, col] = 1.0
    return clips


def test_video_cnn_learns_motion_direction():
    torch.manual_seed(0)
    encoder = build_encoder("video-cnn", frames=4, frame_size=8, width=8, out_dim=16)
    # Each clip of one class is the other class's clip played backwards: only frame order tells them apart.
    _assert_learns(encoder, _moving_dots(False), _moving_dots(True))


def test_video_cnn_tokens_are_frames_and_order_matters():
    torch.manual_seed(0)
    encoder = build_encoder("video-cnn", frames=5, frame_size=8, width=4, out_dim=8).eval()
    clip = torch.rand(2, 5, 3, 8, 8)
    out = encoder(clip)
    assert out.tokens.shape == (2, 5, 8)
    assert not torch.allclose(out.pooled, encoder(clip.flip(1)).pooled, atol=1e-5)


# ---- audio --------------------------------------------------------------------------------------------

def _tones(freq: float, n: int = N, seconds: float = 0.3, sr: int = 16000) -> torch.Tensor:
    gen = torch.Generator().manual_seed(int(freq))
    t = torch.arange(int(seconds * sr)) / sr
    mels = []
    for _ in range(n):
        gain = 10 ** torch.empty(1).uniform_(-2, 0, generator=gen)  # 40 dB of loudness spread
        wave = gain * torch.sin(2 * math.pi * freq * t) + 0.001 * torch.randn(len(t), generator=gen)
        mels.append(log_mel(wave, sr, n_mels=32))
    return torch.stack(mels)


def test_audio_cnn_learns_low_vs_high_tone():
    torch.manual_seed(0)
    encoder = build_encoder("audio-cnn", seconds=0.3, n_mels=32, width=8, out_dim=16)
    _assert_learns(encoder, _tones(300.0), _tones(3000.0))


def test_audio_cnn_ignores_loudness_and_gives_tokens_over_time():
    torch.manual_seed(0)
    encoder = build_encoder("audio-cnn", seconds=0.5, n_mels=32, width=4, out_dim=8).eval()
    mel = torch.randn(2, 32, encoder.loader().frames)
    out = encoder(mel)
    assert out.tokens.shape == (2, encoder.loader().frames // 16, 8)
    louder = encoder(mel + 4.0)  # x e^2 in power is a constant shift of the log-mel
    assert torch.allclose(out.pooled, louder.pooled, atol=1e-4)
    assert torch.isfinite(encoder(torch.full((1, 32, encoder.loader().frames), -13.8)).pooled).all()  # silence


# ---- text ---------------------------------------------------------------------------------------------

def _sentences(words: list[str], n: int = N) -> list[str]:
    gen = torch.Generator().manual_seed(len(words[0]))
    filler = ["the", "a", "near", "with", "big", "small"]
    out = []
    for _ in range(n):
        picks = [words[int(i)] for i in torch.randint(len(words), (3,), generator=gen)]
        picks += [filler[int(i)] for i in torch.randint(len(filler), (3,), generator=gen)]
        out.append(" ".join(picks[int(i)] for i in torch.randperm(len(picks), generator=gen)))
    return out


TEXT = [("gru", {"embed_dim": 16, "hidden": 16, "out_dim": 16}),
        ("transformer-text", {"dim": 16, "heads": 2, "out_dim": 16, "dropout": 0.0})]


@pytest.mark.parametrize(("name", "kwargs"), TEXT, ids=[n for n, _ in TEXT])
def test_text_encoder_learns_two_word_patterns(name, kwargs):
    torch.manual_seed(0)
    cats, dogs = _sentences(["cat", "kitten", "meow"]), _sentences(["dog", "puppy", "woof"])
    encoder = build_encoder(name, **kwargs)
    encoder.prepare(cats + dogs)
    _assert_learns(encoder, cats, dogs)


@pytest.mark.parametrize(("name", "kwargs"), TEXT, ids=[n for n, _ in TEXT])
def test_text_encoder_empty_strings_unknown_words_and_padding(name, kwargs):
    torch.manual_seed(0)
    encoder = build_encoder(name, **kwargs)
    encoder.prepare(["a red circle", "a blue square near a circle", None, float("nan")])
    encoder.eval()
    with torch.no_grad():
        empty = encoder(["", ""])
        assert torch.isfinite(empty.pooled).all() and empty.tokens.shape[:2] == (2, 2)  # <bos> <eos>
        # Padding never leaks: a text alone and next to a much longer one encode the same.
        alone = encoder(["red circle"])
        padded = encoder(["red circle", "a blue square near a red circle and a blue circle"])
        assert torch.allclose(alone.pooled[0], padded.pooled[0], atol=1e-5)
        assert padded.tokens[0, alone.tokens.shape[1]:].abs().sum() == 0
        # Unknown words all map to <unk>, so two different unknown words look the same.
        assert UNK_ID in encoder.tokenizer.encode("zebra")
        assert torch.allclose(encoder(["zebra circle"]).pooled, encoder(["quokka circle"]).pooled)
        assert not torch.allclose(encoder(["red circle"]).pooled, encoder(["blue circle"]).pooled)
    with pytest.raises(PolymodalError, match="list of strings"):
        encoder("one string")


@pytest.mark.parametrize(("name", "kwargs"), TEXT, ids=[n for n, _ in TEXT])
def test_text_encoder_needs_prepare_and_keeps_a_rebuilt_tokenizer(name, kwargs):
    encoder = build_encoder(name, **kwargs)
    with pytest.raises(PolymodalError, match="prepare"):
        encoder(["a red circle"])
    encoder.set_mode("frozen")
    encoder.prepare(["a red circle", "a blue square"])
    assert not any(p.requires_grad for p in encoder.parameters())  # the new embedding follows the mode
    assert encoder.embed.num_embeddings == encoder.tokenizer.vocab_size == 4 + 5
    rebuilt = build_encoder(name, **encoder.config())
    rebuilt.prepare(["entirely different words here"])  # already prepared: nothing is relearned
    assert rebuilt.config() == encoder.config()
    other = build_encoder(name, **kwargs)
    other.prepare(["a green triangle", "a blue square"])
    assert other.id != encoder.id  # another vocabulary never shares cache entries


def test_bpe_text_encoder_handles_unseen_words():
    torch.manual_seed(0)
    encoder = build_encoder("gru", kind="bpe", vocab_size=60, embed_dim=8, hidden=8, out_dim=8)
    encoder.prepare(["a red circle", "a blue square", "red and blue"])
    assert UNK_ID not in encoder.tokenizer.encode("bluered")  # composed of known pieces
    assert torch.isfinite(encoder(["bluered circles", ""]).pooled).all()


# ---- tabular ------------------------------------------------------------------------------------------

def test_numeric_learns_a_threshold_far_from_zero():
    torch.manual_seed(0)
    values = 1000.0 + 5.0 * torch.randn(2 * N)
    encoder = build_encoder("numeric", hidden=16, out_dim=8)
    encoder.prepare(values.tolist())
    low, high = values.sort().values.split(N)
    _assert_learns(encoder, low, high, steps=40, lr=3e-2)


def test_numeric_outliers_and_infinities_give_finite_features():
    """The schema fuzzer's find: 1.6e226 (inf in float32) overflowed the MLP into NaN predictions."""
    encoder = build_encoder("numeric")
    encoder.prepare([1.0, 2.0, 3.0])
    out = encoder(torch.tensor([1.6e226, -1e300, float("inf"), float("-inf"), 3.4e38], dtype=torch.float64)).pooled
    assert torch.isfinite(out).all()
    assert torch.equal(out[0], out[2]) and torch.equal(out[1], out[3])  # beyond the limit every value is the limit


def test_numeric_statistics_ignore_missing_and_live_in_config_and_buffers():
    encoder = build_encoder("numeric")
    with pytest.raises(PolymodalError, match="prepare"):
        encoder(torch.tensor([1.0]))
    encoder.prepare([1.0, None, float("nan"), "", "2", 3, float("inf")])
    assert encoder.config()["mean"] == pytest.approx(2.0)
    assert encoder.config()["std"] == pytest.approx(math.sqrt(2 / 3))
    assert encoder.state_dict()["mean"].item() == pytest.approx(2.0)
    assert torch.isfinite(encoder(torch.tensor([float("nan"), 5.0])).pooled).all()
    constant = build_encoder("numeric")
    constant.prepare([7.0, 7.0])
    assert constant.config()["std"] == 1.0
    with pytest.raises(PolymodalError, match="row 1"):
        build_encoder("numeric").prepare([1.0, "heavy"])
    assert build_encoder("numeric", mean=0.0, std=1.0).id != encoder.id


def test_categorical_learns_which_group_a_category_is_in():
    torch.manual_seed(0)
    group0, group1 = ["apple", "pear", "plum"] * 3, ["carrot", "leek", "kale"] * 3
    encoder = build_encoder("categorical", out_dim=8)
    encoder.prepare(group0 + group1)
    _assert_learns(encoder, group0, group1, lr=5e-2)


def test_categorical_vocabulary_and_unknown_bucket():
    encoder = build_encoder("categorical", min_count=2)
    encoder.prepare(["b", "a", "b", "a", "rare", None, "", float("nan"), 3, 3])
    assert encoder.config()["vocabulary"] == ["3", "a", "b"]  # str() like CategoryLoader, sorted
    out = encoder(["rare", "never seen", "", "a"]).pooled
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])  # the unknown bucket
    assert not torch.equal(out[0], out[3])
    other = build_encoder("categorical", min_count=2)
    other.prepare(["b", "c", "b", "c"])
    assert other.id != encoder.id
