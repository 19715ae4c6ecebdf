"""NormLinear computes LayerNorm -> Linear with the norm's affine folded in: same values, same gradients."""

from __future__ import annotations

import torch
from torch import nn

from polymodal.fusion.norm_linear import NormLinear


def pair(in_dim: int = 9, out_dim: int = 4) -> tuple[NormLinear, nn.Sequential]:
    torch.manual_seed(0)
    fast = NormLinear(in_dim, out_dim, nn.GELU())
    with torch.no_grad():  # non-trivial gain and shift, so the fold has something to do
        fast[0].weight.uniform_(0.5, 2.0)
        fast[0].bias.normal_()
    plain = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, out_dim), nn.GELU())
    plain.load_state_dict(fast.state_dict())
    return fast, plain


def test_same_parameter_names_as_the_plain_layers():
    fast, plain = pair()
    assert list(fast.state_dict()) == list(plain.state_dict())


def test_same_output_and_parameter_gradients_as_the_plain_layers():
    fast, plain = pair()
    x = torch.randn(6, 9) * 3 + 1
    target = torch.randn(6, 4)
    torch.testing.assert_close(fast(x), plain(x))
    for module in (fast, plain):
        ((module(x) - target) ** 2).sum().backward()
    for (name, a), b in zip(fast.named_parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_gradient_reaches_an_input_that_needs_one():
    fast, plain = pair()
    x = torch.randn(5, 9, requires_grad=True)
    fast(x).sum().backward()
    expected = torch.autograd.grad(plain(x).sum(), x)[0]
    torch.testing.assert_close(x.grad, expected, rtol=1e-4, atol=1e-5)


def test_concat_fold_equals_norms_then_mlp():
    from polymodal.fusion import build_fusion

    torch.manual_seed(0)
    fusion = build_fusion("concat", in_dims={"a": 5, "b": 7}, out_dim=3, hidden=8).eval()
    with torch.no_grad():
        for norm in fusion.norms:
            norm.weight.uniform_(0.5, 2.0)
            norm.bias.normal_()
    feats = {"a": torch.randn(4, 5), "b": torch.randn(4, 7)}
    masks = {"a": torch.tensor([True, True, False, False]), "b": torch.tensor([True, False, True, False])}
    parts = [norm(feats[m] * masks[m][:, None]) for m, norm in zip(fusion.modalities, fusion.norms, strict=True)]
    flags = torch.stack([masks[m] for m in fusion.modalities], 1).float()
    torch.testing.assert_close(fusion(feats, masks), fusion.mlp(torch.cat([*parts, flags], 1)))
