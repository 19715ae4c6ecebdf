"""The fusion contract, checked for every registered fusion (a new file is picked up automatically)."""

from __future__ import annotations

import inspect
import math

import pytest
import torch

from polymodal.errors import PolymodalError
from polymodal.fusion import FUSIONS, build_fusion, fusion_names, masked
from polymodal.fusion.base import _MODULES

DIMS = {"a": 5, "b": 7, "c": 3}
OUT, B = 4, 6
# Rows: 0 all present, 1 nothing present, 2 a+c, 3 b+c, 4 a+b, 5 only a (so a has nobody to attend to).
PATTERN = {"a": [1, 0, 1, 0, 1, 1], "b": [1, 0, 0, 1, 1, 0], "c": [1, 0, 1, 1, 0, 0]}

# Every registered fusion with its defaults, plus the non-default modes of late fusion.
VARIANTS = [(name, {}) for name in fusion_names()] + [("late", {"combine": "learned"}), ("late", {"combine": "vote"})]
IDS = [name + "".join(f"-{v}" for v in kw.values()) for name, kw in VARIANTS]
TOKEN_VARIANTS = [(n, kw) for n, kw in VARIANTS if FUSIONS[n].uses_tokens]
POISONS = {"nan": float("nan"), "inf": float("inf"), "huge": 1e30}


def make(name: str, kwargs: dict, in_dims: dict[str, int] = DIMS, seed: int = 0):
    torch.manual_seed(seed)
    return build_fusion(name, in_dims=in_dims, out_dim=OUT, **{"hidden": 16, **kwargs}).eval()


def inputs(in_dims: dict[str, int] = DIMS, seed: int = 1, tokens: dict[str, int] | None = None):
    """Features (pooled, or `[B, N, D]` for the modalities named in `tokens`) and the PATTERN masks."""
    g = torch.Generator().manual_seed(seed)
    tokens = tokens or {}
    feats = {m: torch.randn(B, *([tokens[m]] if m in tokens else []), d, generator=g) for m, d in in_dims.items()}
    masks = {m: torch.tensor(PATTERN.get(m, [1, 0, 1, 0, 1, 1]), dtype=torch.bool) for m in in_dims}
    return feats, masks


def poison(feats, masks, value: float, seed: int = 2):
    """The same features with every absent row overwritten by `value` (times noise for finite values)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for m, x in feats.items():
        bad = torch.randn(x.shape, generator=g) * value if math.isfinite(value) else torch.full_like(x, value)
        out[m] = torch.where(masks[m].view(-1, *[1] * (x.dim() - 1)), x, bad)
    return out


def test_every_module_in_the_registry_registers_its_name():
    assert set(_MODULES) <= set(fusion_names())


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=IDS)
def test_output_shape_and_finite(name, kwargs):
    out = make(name, {"hidden": 128, **kwargs})(*inputs())  # the default width too
    assert out.shape == (B, OUT) and out.dtype == torch.float32
    assert torch.isfinite(out).all()  # row 1 has nothing present


@pytest.mark.parametrize("name", fusion_names())
def test_constructor_is_flat_and_typed(name):
    params = list(inspect.signature(FUSIONS[name].__init__).parameters.values())[1:]
    assert [p.name for p in params[:2]] == ["in_dims", "out_dim"]
    plain = {"int", "float", "str", "bool", "dict[str, int]"}
    for p in params:
        assert p.annotation in plain, f"{name}: {p.name} is typed {p.annotation!r}, not a plain type"
        if p.name not in ("in_dims", "out_dim"):
            assert p.kind is p.KEYWORD_ONLY and p.default is not p.empty, f"{name}: {p.name} must be keyword + default"
    assert {"hidden", "dropout"} <= {p.name for p in params}


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=IDS)
def test_gradient_reaches_every_parameter_when_all_present(name, kwargs):
    fusion = make(name, kwargs).train()
    feats, masks = inputs()
    masks = {m: torch.ones(B, dtype=torch.bool) for m in masks}
    (fusion(feats, masks) * torch.randn(B, OUT)).sum().backward()
    for pname, p in fusion.named_parameters():
        if pname.endswith("empty"):  # used only by rows with nothing present: checked below
            continue
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}: no gradient reaches {pname}"


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=IDS)
def test_rows_with_nothing_present_are_finite_and_learn(name, kwargs):
    fusion = make(name, kwargs)
    feats, masks = inputs()
    nothing = {m: torch.zeros(B, dtype=torch.bool) for m in masks}
    out = fusion(poison(feats, nothing, float("nan")), nothing)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, out[:1].expand_as(out), atol=1e-6, rtol=0)  # one "nothing present" output
    out = fusion.train()(poison(feats, nothing, float("nan")), nothing)
    (out * torch.randn(B, OUT)).sum().backward()
    for pname, p in fusion.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), f"{name}: non-finite gradient in {pname}"
        if pname.endswith("empty"):
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}: {pname} never learns"


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=IDS)
def test_result_does_not_depend_on_dict_order(name, kwargs):
    feats, masks = inputs()
    fusion = make(name, kwargs)
    expected = fusion(feats, masks)
    shuffled = [2, 0, 1]
    names = sorted(feats)
    out = fusion({names[i]: feats[names[i]] for i in shuffled}, {names[i]: masks[names[i]] for i in reversed(shuffled)})
    assert torch.equal(out, expected)
    # Building from a reordered in_dims gives the same parameters, hence the same output.
    rebuilt = make(name, kwargs, in_dims={m: DIMS[m] for m in reversed(sorted(DIMS))})
    assert torch.equal(rebuilt(feats, masks), expected)


@pytest.mark.parametrize("value", POISONS.values(), ids=POISONS.keys())
@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=IDS)
def test_masked_modality_has_no_effect(name, kwargs, value):
    feats, masks = inputs()
    fusion = make(name, kwargs)
    expected = fusion(feats, masks)
    out = fusion(poison(feats, masks, value), masks)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=IDS)
def test_masked_nan_does_not_poison_gradients(name, kwargs):
    fusion = make(name, kwargs).train()
    feats, masks = inputs()
    (fusion(poison(feats, masks, float("nan")), masks) * torch.randn(B, OUT)).sum().backward()
    for pname, p in fusion.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), f"{name}: NaN from a masked row reached {pname}"


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=IDS)
def test_rows_are_independent(name, kwargs, training):
    """Each row alone gives what it gives in the batch: no BatchNorm-like coupling across rows
    (checked in training mode too, where batch statistics would show; dropout off for that)."""
    feats, masks = inputs()
    fusion = make(name, {**kwargs, "dropout": 0.0}).train(training)
    batched = fusion(feats, masks)
    for i in range(B):
        alone = fusion({m: x[i:i + 1] for m, x in feats.items()}, {m: k[i:i + 1] for m, k in masks.items()})
        torch.testing.assert_close(alone, batched[i:i + 1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=IDS)
def test_same_seed_same_output(name, kwargs):
    feats, masks = inputs()
    first, second = make(name, kwargs, seed=3), make(name, kwargs, seed=3)
    assert torch.equal(first(feats, masks), second(feats, masks))
    first.train(), second.train()  # dropout too, given the same seed
    torch.manual_seed(4)
    out = first(feats, masks)
    torch.manual_seed(4)
    assert torch.equal(out, second(feats, masks))
    # ...and the seed matters, so the equalities above are not vacuous.
    assert not torch.equal(make(name, kwargs, seed=5)(feats, masks), first.eval()(feats, masks))


@pytest.mark.parametrize(("name", "kwargs"), VARIANTS, ids=IDS)
def test_single_modality(name, kwargs):
    feats, masks = inputs(in_dims={"a": 5})
    fusion = make(name, kwargs, in_dims={"a": 5})
    out = fusion(feats, masks)
    assert out.shape == (B, OUT) and torch.isfinite(out).all()
    torch.testing.assert_close(fusion(poison(feats, masks, 1e30), masks), out, atol=1e-6, rtol=0)


@pytest.mark.parametrize(("name", "kwargs"), TOKEN_VARIANTS, ids=[n for n, _ in TOKEN_VARIANTS])
@pytest.mark.parametrize("tokens", [{"a": 3, "b": 2, "c": 4}, {"b": 5}], ids=["all-tokens", "mixed"])
def test_token_inputs(name, kwargs, tokens):
    feats, masks = inputs(tokens=tokens)
    fusion = make(name, kwargs)
    out = fusion(feats, masks)
    assert out.shape == (B, OUT) and torch.isfinite(out).all()
    torch.testing.assert_close(fusion(poison(feats, masks, float("nan")), masks), out, atol=1e-6, rtol=0)
    reordered = fusion(dict(reversed(feats.items())), dict(reversed(masks.items())))
    assert torch.equal(reordered, out)
    # Changing the tokens of a present modality does change the output (the tokens are used).
    feats["b"] = feats["b"] + torch.randn(feats["b"].shape)
    assert not torch.allclose(fusion(feats, masks), out)


def test_present_modality_changes_the_output():
    """Guard for the tests above: a fusion that ignored its inputs would pass them."""
    for name, kwargs in VARIANTS:
        feats, masks = inputs()
        fusion = make(name, kwargs)
        out = fusion(feats, masks)
        feats["a"] = feats["a"] + torch.randn(feats["a"].shape)
        changed = (fusion(feats, masks) - out).abs().amax(1) > 1e-6
        if kwargs.get("combine") == "vote":  # argmax votes may not flip; only present rows may change
            assert not changed[~masks["a"]].any(), name
        else:
            assert changed.tolist() == masks["a"].tolist(), name


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(PolymodalError) as err:
        build_fusion("no_such_fusion", in_dims=DIMS, out_dim=OUT)
    for name in fusion_names():
        assert name in str(err.value)


def test_masked_zeroes_absent_rows_whatever_their_values():
    x = torch.tensor([[1.0, 2.0], [float("nan"), float("inf")], [3.0, -4.0]])
    mask = torch.tensor([True, False, True])
    assert torch.equal(masked(x, mask), torch.tensor([[1.0, 2.0], [0.0, 0.0], [3.0, -4.0]]))
    tokens = torch.full((3, 2, 2), float("nan"))
    assert torch.equal(masked(tokens, torch.tensor([0, 0, 0])), torch.zeros(3, 2, 2))
