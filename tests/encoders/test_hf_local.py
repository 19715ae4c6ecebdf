"""`hf:PATH`: any local Hugging Face model folder. The tests build tiny models themselves."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from polymodal.encoders import build_encoder
from polymodal.encoders.hf import HFImageEncoder, HFTextEncoder, mean_pool
from polymodal.encoders.onnx_runtime import fast_forward
from polymodal.errors import PolymodalError

tf = pytest.importorskip("transformers")
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "apple", "blue", "sky", "the", "is", "##s", "on"]
TEXTS = ["a red apple", "the sky is blue", "", "apples on the sky is a red blue apple"]


def save_bert(folder, seed: int = 0):
    vocab = folder / "vocab.txt"
    folder.mkdir(parents=True, exist_ok=True)
    vocab.write_text("\n".join(WORDS) + "\n")
    torch.manual_seed(seed)
    config = tf.BertConfig(vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=37, max_position_embeddings=64)
    tf.BertModel(config).save_pretrained(folder)
    tf.BertTokenizer(str(vocab)).save_pretrained(folder)  # positional: `vocab_file` in v4, `vocab` in v5
    return folder


def save_vit(folder, *, preprocessor: dict | None = None):
    torch.manual_seed(0)
    config = tf.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                          intermediate_size=37)
    tf.ViTModel(config).save_pretrained(folder)
    if preprocessor is not None:
        (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return folder


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return save_bert(tmp_path_factory.mktemp("hf") / "bert")


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory):
    pre = {"image_mean": [0.4, 0.5, 0.6], "image_std": [0.2, 0.25, 0.3], "size": {"height": 32, "width": 32}}
    return save_vit(tmp_path_factory.mktemp("hf") / "vit", preprocessor=pre)


@pytest.fixture
def images(tmp_path):
    from tests.conftest import write_image

    return [write_image(tmp_path / f"{i}.png", c, size=(40, 30)) for i, c in enumerate([(200, 30, 30), (0, 90, 255)])]


def test_text_model_loads_and_matches_direct_run(bert_dir):
    enc = build_encoder(f"hf:{bert_dir}")
    assert isinstance(enc, HFTextEncoder) and enc.roles == ("text",)
    assert enc.out_dim == 32
    with torch.inference_mode():
        out = enc(TEXTS)
    assert out.pooled.shape == (4, 32) and out.tokens.shape[:2] == (4, out.tokens.shape[1])

    tok = tf.AutoTokenizer.from_pretrained(bert_dir)
    model = tf.AutoModel.from_pretrained(bert_dir).eval()
    batch = tok(TEXTS, padding=True, return_tensors="pt")
    assert batch["input_ids"][0].tolist()[:5] == [2, 5, 6, 7, 3]  # the vocabulary really is used
    with torch.inference_mode():
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        direct = mean_pool(hidden, batch["attention_mask"])
    torch.testing.assert_close(out.pooled, direct, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.tokens, hidden, atol=1e-6, rtol=0)
    # padding rows do not count: one sentence alone gives the same vector as in the batch
    with torch.inference_mode():
        torch.testing.assert_close(enc(TEXTS[:1]).pooled[0], out.pooled[0], atol=1e-5, rtol=0)


def test_long_text_is_cut_to_what_the_model_takes(bert_dir):
    enc = build_encoder(f"hf:{bert_dir}")  # max_length 128 asked, 64 positions in the model
    assert enc.max_length == 64
    with torch.inference_mode():
        assert enc(["a red apple " * 100]).pooled.shape == (1, 32)


def test_text_model_normalize_option(bert_dir):
    enc = build_encoder(f"hf:{bert_dir}", normalize=True)
    with torch.inference_mode():
        assert torch.allclose(enc(TEXTS).pooled.norm(dim=-1), torch.ones(4), atol=1e-5)


def test_vision_model_uses_preprocessor_config(vit_dir, images):
    enc = build_encoder(f"hf:{vit_dir}")
    assert isinstance(enc, HFImageEncoder) and enc.roles == ("image",)
    loader = enc.loader()
    assert (loader.size, loader.fit, loader.mean, loader.std) == (32, "stretch", (0.4, 0.5, 0.6), (0.2, 0.25, 0.3))
    x = torch.stack([loader(p) for p in images])
    assert x.shape == (2, 3, 32, 32)
    with torch.inference_mode():
        out = enc(x)
        direct = tf.AutoModel.from_pretrained(vit_dir).eval()(pixel_values=x)
    assert out.pooled.shape == (2, 32) and out.tokens.shape == (2, 17, 32)
    torch.testing.assert_close(out.pooled, direct.pooler_output, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.tokens, direct.last_hidden_state, atol=1e-6, rtol=0)


def test_vision_model_without_pooler_averages_tokens(tmp_path, images):
    folder = tmp_path / "vit"
    torch.manual_seed(0)
    config = tf.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                          intermediate_size=37)
    tf.ViTModel(config, add_pooling_layer=False).save_pretrained(folder)
    enc = build_encoder(f"hf:{folder}")
    assert enc.loader().size == 32  # from config.image_size when there is no preprocessor_config.json
    x = torch.stack([enc.loader()(p) for p in images])
    with torch.inference_mode():
        out = enc(x)
        hidden = tf.AutoModel.from_pretrained(folder).eval()(pixel_values=x).last_hidden_state
    torch.testing.assert_close(out.pooled, hidden.mean(1), atol=1e-6, rtol=0)


def test_id_follows_weights_not_location(tmp_path):
    a = build_encoder(f"hf:{save_bert(tmp_path / 'a', seed=0)}")
    b = build_encoder(f"hf:{save_bert(tmp_path / 'b', seed=0)}")
    c = build_encoder(f"hf:{save_bert(tmp_path / 'c', seed=1)}")
    assert a.id == b.id  # same files in another folder: same features, shared cache entries
    assert a.id != c.id
    assert build_encoder(f"hf:{tmp_path / 'a'}", max_length=16).id != a.id


def test_config_rebuilds(bert_dir):
    enc = build_encoder(f"hf:{bert_dir}", max_length=16)
    again = build_encoder("hf", **enc.config())
    assert again.id == enc.id


def test_modes(bert_dir, vit_dir):
    for folder in (bert_dir, vit_dir):
        enc = build_encoder(f"hf:{folder}")
        assert not any(m.training for m in enc.modules())
        enc.train()
        assert not any(p.requires_grad for p in enc.parameters())
        assert not any(m.training for m in enc.modules())
        enc.set_mode("last").train()
        trainable = {id(p) for p in enc.parameters() if p.requires_grad}
        assert trainable and trainable == {id(p) for p in enc.last_blocks().parameters()}


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(PolymodalError, match="no such folder"):
        build_encoder(f"hf:{tmp_path / 'nope'}")


def test_folder_without_a_model_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(PolymodalError, match="not a Hugging Face model folder"):
        build_encoder(f"hf:{tmp_path}")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(PolymodalError, match="could not load"):
        build_encoder(f"hf:{tmp_path}", role="image")


def test_file_instead_of_folder(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"\0")
    with pytest.raises(PolymodalError, match="is a file"):
        build_encoder(f"hf:{tmp_path / 'model.bin'}")


def test_onnx_parity_tiny_models(bert_dir, vit_dir, images, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("POLYMODAL_HOME", str(tmp_path / "home"))
    text = build_encoder(f"hf:{bert_dir}")
    fast = fast_forward(text, backend="onnx")
    with torch.inference_mode():
        ref = text(TEXTS).pooled.numpy()
    np.testing.assert_allclose(fast(TEXTS), ref, atol=1e-5)
    assert fast.backend == "onnxruntime" and fast.parity < 1e-5
    image = build_encoder(f"hf:{vit_dir}")
    x = torch.stack([image.loader()(p) for p in images])
    fast = fast_forward(image, backend="onnx")
    with torch.inference_mode():
        np.testing.assert_allclose(fast(x), image(x).pooled.numpy(), atol=1e-5)
