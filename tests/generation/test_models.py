"""Contract tests over every registered generative model, for every output shape. A model that translates images
(`translates = True`: CycleGAN) is conditioned on an image batch instead of a prompt, and refuses other shapes."""

import pytest
import torch

from polymodal.errors import PolymodalError
from polymodal.generation.base import MODELS, Batch, build_model, model_names
from polymodal.generation.conditioning import MINILM_DIM, Prompts

SHAPES = {"image": (3, 16, 16), "audio": (1, 16, 16), "video": (3, 4, 16, 16)}
TEXTS = ["a red circle", "a blue square", "a green triangle", "a red circle"]


def translates(name: str) -> bool:
    return getattr(MODELS[name], "translates", False)


def batch(shape, text_encoder="minilm", name=""):
    torch.manual_seed(0)
    x = torch.rand(len(TEXTS), *shape) * 2 - 1
    if translates(name):  # the condition is a batch of source images
        return Batch(x, torch.rand(len(TEXTS), *shape) * 2 - 1, torch.tensor([0, 1, 2, 0]))
    cond = TEXTS if text_encoder == "gru" else torch.randn(len(TEXTS), MINILM_DIM)
    return Batch(x, cond, torch.tensor([0, 1, 2, 0]))


def build(name, shape, text_encoder="minilm"):
    tokenizer = Prompts.learn_tokenizer(TEXTS) if text_encoder == "gru" else ""
    torch.manual_seed(0)
    return build_model(name, shape, text_encoder=text_encoder, tokenizer=tokenizer, z_dim=8, cond_dim=16, width=8)


@pytest.mark.parametrize("role", sorted(SHAPES))
@pytest.mark.parametrize("name", model_names())
def test_train_step_changes_weights_and_sampling_is_deterministic(name, role):
    shape = SHAPES[role]
    if translates(name) and len(shape) != 3:  # clips: a translating model reads [C, H, W] only
        with pytest.raises(PolymodalError, match="translates images"):
            build(name, shape)
        return
    model = build(name, shape)
    b = batch(shape, name=name)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizers = model.optimizers(1e-3)
    losses = [model.train_step(b, optimizers, step) for step in range(3)]
    assert all(torch.isfinite(torch.tensor(list(loss.values()))).all() for loss in losses)
    assert "loss" in losses[0]
    changed = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert changed, "a training step must move the weights"
    z = torch.randn(len(TEXTS), model.z_dim, generator=torch.Generator().manual_seed(1))
    out = model.sample(b.cond, z)
    assert out.shape == (len(TEXTS), *shape)
    assert out.min() >= -1 and out.max() <= 1
    assert torch.equal(out, model.sample(b.cond, z)), "sampling must be a function of z and the prompt"


@pytest.mark.parametrize("name", model_names())
def test_state_dict_round_trip_gives_the_same_samples(name):
    model = build(name, SHAPES["image"], text_encoder="gru")
    b = batch(SHAPES["image"], "gru", name=name)
    model.train_step(b, model.optimizers(1e-3), 0)
    copy = build(name, SHAPES["image"], text_encoder="gru")
    copy.load_state_dict(model.state_dict())
    z = torch.randn(len(TEXTS), model.z_dim, generator=torch.Generator().manual_seed(2))
    assert torch.equal(model.sample(b.cond, z), copy.sample(b.cond, z))


def test_conditional_models_read_the_prompt_and_the_baseline_does_not():
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(3))
    cond = torch.randn(2, MINILM_DIM)
    for name in ("cgan", "cvae"):
        model = build(name, SHAPES["image"])
        assert not torch.equal(model.sample(cond, z)[0], model.sample(cond.flip(0), z)[0])
    base = build("unconditional", SHAPES["image"])
    assert torch.equal(base.sample(cond, z), base.sample(cond.flip(0), z))


def test_unknown_model_and_bad_option_are_clear_errors():
    with pytest.raises(PolymodalError, match="unknown generative model 'diffusion'"):
        build_model("diffusion", (3, 16, 16))
    with pytest.raises(PolymodalError, match="generative model 'cgan'"):
        build_model("cgan", (3, 16, 16), temperature=2)
    with pytest.raises(PolymodalError, match="powers of two"):
        build_model("cvae", (3, 12, 12))
