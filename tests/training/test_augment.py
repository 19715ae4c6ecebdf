"""Augmentation while training (training/augment.py): each transform does what it says on a batch, mixup
mixes exactly the float inputs and weighs the loss, bad settings are refused before any work, frozen cached
columns refuse input augmentations with the reason, and a fit with augmentation trains, saves and reloads."""

from __future__ import annotations

import math
import random

import pandas as pd
import pytest
import torch
from tests.serving_fixtures import make_table

import polymodal as pm
from polymodal import PolymodalError
from polymodal.training import augment as aug_module
from polymodal.training.augment import TENSOR_OPS, TEXT_OPS, BatchAugmenter, parse_augment


def test_parse_reads_mixup_and_each_roles_transforms():
    aug = parse_augment("mixup=0.2, image=flip+crop, text=dropout")
    assert aug.mixup == 0.2 and aug.ops == {"image": ["flip", "crop"], "text": ["dropout"]}
    assert parse_augment({"audio": ["mask", "gain"]}).ops == {"audio": ["mask", "gain"]}
    assert not parse_augment(None) and not parse_augment("none")


@pytest.mark.parametrize(("spec", "message"), [
    ("mixup=lots", "give mixup's alpha as a number"),
    ("mixup=0", r"alpha must be in \(0, 10\]"),
    ("image=flip+blur", "unknown image augmentation.*'blur'; valid: flip\\+crop\\+jitter\\+rotate"),
    ("video=flip", "unknown key 'video'"),
    ("flip", "'flip' is not KEY=VALUE"),
])
def test_a_bad_setting_is_refused_before_any_work(spec, message, tmp_path):
    with pytest.raises(PolymodalError, match=message):
        pm.Predictor("label", augment=spec).fit(tmp_path / "no-such-table.csv")


def test_image_transforms_keep_the_shape_and_do_what_they_say():
    torch.manual_seed(0)
    x = torch.randn(16, 3, 12, 12)
    for name, op in TENSOR_OPS["image"].items():
        out = op(x)
        assert out.shape == x.shape and torch.isfinite(out).all(), name
    flipped = TENSOR_OPS["image"]["flip"](x)
    for a, b in zip(flipped, x, strict=True):  # each row is itself or its mirror image
        assert torch.equal(a, b) or torch.equal(a, b.flip(-1))
    jittered = TENSOR_OPS["image"]["jitter"](x)
    assert not torch.equal(jittered, x)


def test_audio_transforms_on_log_mel():
    torch.manual_seed(0)
    x = torch.log(torch.rand(8, 32, 50) + 1e-3)
    gained = TENSOR_OPS["audio"]["gain"](x)
    shift = gained - x  # one constant per clip: a gain is a multiplication of the power
    assert torch.allclose(shift, shift[:, :1, :1].expand_as(shift), atol=1e-5)
    assert (shift.abs() <= 6 / 10 * math.log(10) + 1e-5).all()
    noisy = TENSOR_OPS["audio"]["noise"](x)
    assert (noisy >= x).all()  # adding noise power never lowers a band
    masked = TENSOR_OPS["audio"]["mask"](x)
    assert masked.shape == x.shape and not torch.equal(TENSOR_OPS["audio"]["shift"](x), x)
    changed = (masked != x).any(dim=2).sum(dim=1)  # bands touched per clip: the masked band plus the time span
    assert (changed <= 32).all()


def test_text_transforms_never_empty_a_cell_and_swap_keeps_the_words():
    rng = random.Random(0)
    texts = ["a red square", "one", "the quick brown fox jumps"]
    dropped = TEXT_OPS["dropout"](texts * 20, rng)
    assert all(d for d in dropped) and all(set(d.split()) <= set(t.split()) for d, t in zip(dropped, texts * 20,
                                                                                            strict=True))
    swapped = TEXT_OPS["swap"](texts, rng)
    assert [sorted(s.split()) for s in swapped] == [sorted(t.split()) for t in texts]
    assert swapped[1] == "one"


def test_mixup_mixes_the_float_inputs_with_a_shuffled_copy_and_nothing_else():
    torch.manual_seed(0)
    feats, codes = torch.randn(10, 4), torch.arange(10)
    inputs = {"f": feats, "codes": codes, "text": [f"t{i}" for i in range(10)]}
    masks = {"f": torch.ones(10, dtype=torch.bool), "codes": torch.ones(10, dtype=torch.bool),
             "text": torch.ones(10, dtype=torch.bool)}
    out, out_masks, (lam, perm) = BatchAugmenter(parse_augment("mixup=0.4"), {}, set())(inputs, masks)
    assert 0.5 <= lam <= 1
    assert torch.allclose(out["f"], lam * feats + (1 - lam) * feats[perm])
    assert torch.equal(out["codes"], codes) and out["text"] == inputs["text"] and out_masks is masks


def test_input_augmentations_are_refused_for_a_column_read_by_a_frozen_cached_encoder(tmp_path):
    table = make_table(tmp_path, rows=12)  # `sound` is read by mfcc: fixed features, cached
    with pytest.raises(PolymodalError, match=r"augment audio=\.\.\.: the audio column\(s\) sound are read by "
                                             "frozen pretrained encoders.*Use mixup=ALPHA"):
        pm.Predictor("color", encoders={"audio": "mfcc"}, augment="audio=mask", progress=False).fit(table)


@pytest.mark.slow
def test_a_fit_with_augmentation_trains_on_augmented_batches_and_reloads(tmp_path, monkeypatch):
    table = make_table(tmp_path, rows=36)
    calls = []
    original = aug_module.BatchAugmenter.__call__

    def counting(self, inputs, masks):
        out = original(self, inputs, masks)
        calls.append(out[2] is not None)
        return out

    monkeypatch.setattr(aug_module.BatchAugmenter, "__call__", counting)
    p = pm.Predictor("color", fusion="concat", encoders={"image": "cnn:image_size=16:width=4:out_dim=16",
                                                        "audio": "mfcc", "text": "gru"},
                     augment="mixup=0.2,image=flip+crop+jitter+rotate,text=dropout+swap", classical="none",
                     epochs=2, batch_size=8, hidden=16, estimate="holdout", progress=False)
    p.fit(table, out=tmp_path / "run")
    assert calls and all(calls)  # every training batch went through the augmenter, with mixup
    again = pm.load(tmp_path / "run")
    pd.testing.assert_frame_equal(p.predict_proba(table), again.predict_proba(table))  # inference is not augmented


def test_the_mixup_loss_weighs_both_rows_targets_by_lambda():
    """One batch through the training loop's epoch: its loss is lambda * CE(own targets) + (1 - lambda) *
    CE(the shuffled rows' targets), on the mixed inputs' logits (computed before the optimiser step)."""
    from polymodal.tasks import Classification
    from polymodal.training.data import ArrayData
    from polymodal.training.loop import _epoch

    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 3)

        def forward(self, inputs, masks):
            return self.layer(inputs["f"])

    task = Classification("y").fit(pd.Series(["a", "b", "c"] * 4))
    data = ArrayData({"f": torch.randn(12, 4)}, {"f": torch.ones(12, dtype=torch.bool)}, torch.arange(12) % 3)
    model = Linear()
    fixed = (0.7, torch.arange(11, -1, -1))

    def augment(inputs, masks):
        return {"f": 0.7 * inputs["f"] + 0.3 * inputs["f"][fixed[1]]}, masks, fixed

    with torch.no_grad():
        logits = model({"f": 0.7 * data.inputs["f"] + 0.3 * data.inputs["f"].flip(0)}, None)
        expected = 0.7 * torch.nn.functional.cross_entropy(logits, data.targets) + \
            0.3 * torch.nn.functional.cross_entropy(logits, data.targets.flip(0))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    loss = _epoch(model, task, data, optimizer, scheduler, batch_size=12, clip=0.0, order=torch.arange(12),
                  device=torch.device("cpu"), augment=augment)
    assert loss == pytest.approx(float(expected), rel=1e-5)  # float32 sums in another order


def _gradient_images(folder, n: int = 12):
    """Images with structure (a diagonal ramp and a dark corner whose place varies), so that crops and
    contrast changes move their features; a uniform image would not change."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        y, x = np.mgrid[0:24, 0:24]
        pixels = np.stack([(x * 10 + i * 7) % 256, (y * 10) % 256, ((x + y) * 5) % 256], -1).astype(np.uint8)
        pixels[(i % 3) * 8:(i % 3) * 8 + 8, :8] = 0
        Image.fromarray(pixels).save(folder / f"{i}.png")
        paths.append(folder / f"{i}.png")
    return paths


def test_a_cached_view_is_deterministic_differs_from_the_plain_features_and_is_kept_apart(tmp_path):
    from tests.encoders.test_cache import ImageProbe

    from polymodal.encoders.cache import FeatureCache
    from polymodal.training.augment import view_transform

    paths = _gradient_images(tmp_path / "img")
    cache, encoder = FeatureCache(tmp_path / "features"), ImageProbe()
    plain, _ = cache.extract(encoder, paths, progress=False)
    view = view_transform("image", ["crop", "jitter"], 0)
    first, present = cache.extract(encoder, paths, progress=False, view=view)
    assert present.all() and cache.last.computed == len(paths)
    again, _ = cache.extract(encoder, paths, progress=False, view=view_transform("image", ["crop", "jitter"], 0))
    assert cache.last.computed == 0  # read back from the view's own entries
    assert (again == first).all()  # the same view of the same file, in any run
    assert not (first == plain).all(axis=1).any()  # every file's view moved its features
    other, _ = cache.extract(encoder, paths, progress=False, view=view_transform("image", ["crop", "jitter"], 1))
    assert not (other == first).all(axis=1).any()  # another view, other draws
    assert len(cache.info()) == 1 and sum(e["entries"] for e in cache.info().values()) == 3 * len(paths)
    plain_again, _ = cache.extract(encoder, paths, progress=False)
    assert cache.last.computed == 0 and (plain_again == plain).all()  # the plain entries are untouched


def test_text_views_transform_the_strings_before_the_encoder(tmp_path):
    from tests.encoders.test_cache import TextProbe

    from polymodal.encoders.cache import FeatureCache
    from polymodal.training.augment import view_transform

    texts = ["a small red square on the left", "two big blue circles at the top", "one green star"]
    encoder = TextProbe()
    cache = FeatureCache(tmp_path / "features")
    cache.extract(encoder, texts, progress=False, view=view_transform("text", ["swap"], 0))
    assert encoder.seen != texts and [sorted(s.split()) for s in encoder.seen] == [sorted(t.split()) for t in texts]


@pytest.mark.slow
def test_a_frozen_image_column_trains_on_its_cached_views(tmp_path, monkeypatch):
    """EfficientNet-Lite0 (frozen, cached): `image=crop+jitter,views=2` gives each training and validation row
    two cached views; test rows keep copies of their plain features, and batches draw among them."""
    from polymodal.predict.predictor import Predictor

    paths = _gradient_images(tmp_path / "img", n=24)
    pd.DataFrame({"photo": [f"img/{p.name}" for p in paths], "label": ["a", "b"] * 12,
                  "split": ["train"] * 16 + ["val"] * 4 + ["test"] * 4}).to_csv(tmp_path / "t.csv", index=False)
    captured = {}
    features = Predictor._features

    def capture(self, table, train_rows, view_rows=None):
        captured["data"] = features(self, table, train_rows, view_rows)
        return captured["data"]

    monkeypatch.setattr(Predictor, "_features", capture)
    p = pm.Predictor("label", fusion="concat", encoders={"image": "efficientnet-lite0"}, classical="none",
                     augment="image=crop+jitter,views=2", epochs=2, batch_size=8, hidden=16, progress=False)
    p.fit(tmp_path / "t.csv", out=tmp_path / "run")
    data = captured["data"]
    plain, views = data.inputs["photo"].float(), data.inputs["photo@views"]
    assert views.shape == (24, 2, plain.shape[1])
    moved = ~torch.isclose(views, plain[:, None], atol=1e-4).all(dim=2)  # [rows, views]
    assert moved[:20].all() and not moved[20:].any()  # training and validation rows only
    again = pm.load(tmp_path / "run")
    pd.testing.assert_frame_equal(p.predict_proba(tmp_path / "t.csv"), again.predict_proba(tmp_path / "t.csv"))


def test_audio_transforms_stay_refused_for_a_cached_audio_column_and_views_is_checked(tmp_path):
    with pytest.raises(PolymodalError, match=r"views=0: the number of cached views per input, 1 to 16"):
        pm.Predictor("label", augment="image=crop,views=0").fit(tmp_path / "no-such-table.csv")
