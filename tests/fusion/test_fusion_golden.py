"""Small hand-checkable values for the fusions whose arithmetic has a closed form."""

from __future__ import annotations

import math
import re

import pytest
import torch

from polymodal.errors import PolymodalError
from polymodal.fusion import build_fusion
from polymodal.fusion.late import TIE_SHARE, vote

DIMS = {"a": 5, "b": 7, "c": 3}
B = 4


def setup(name: str, dims=DIMS, **kwargs):
    torch.manual_seed(0)
    fusion = build_fusion(name, in_dims=dims, out_dim=3, hidden=8, **kwargs).eval()
    g = torch.Generator().manual_seed(1)
    feats = {m: torch.randn(B, d, generator=g) for m, d in dims.items()}
    # Rows: all present, a+b, only c, nothing.
    masks = {"a": torch.tensor([1, 1, 0, 0]).bool(), "b": torch.tensor([1, 1, 0, 0]).bool(),
             "c": torch.tensor([1, 0, 1, 0]).bool()}
    return fusion, feats, {m: masks[m] for m in dims}


def test_weighted_sum_with_equal_weights_is_the_mean_of_present_projections():
    fusion, feats, masks = setup("weighted_sum")
    with torch.no_grad():
        fusion.logits.zero_()
        fusion.empty.fill_(7.0)
    vec = {m: fusion.proj[i](feats[m]) for i, m in enumerate(fusion.modalities)}
    fused = fusion.fuse(feats, masks)
    torch.testing.assert_close(fused[0], (vec["a"][0] + vec["b"][0] + vec["c"][0]) / 3)
    torch.testing.assert_close(fused[1], (vec["a"][1] + vec["b"][1]) / 2)
    torch.testing.assert_close(fused[2], vec["c"][2])
    torch.testing.assert_close(fused[3], torch.full((8,), 7.0))  # nothing present: the learned vector
    torch.testing.assert_close(fusion(feats, masks), fusion.out[1](fused))


def test_weighted_sum_renormalises_learned_weights_over_present_modalities():
    fusion, feats, masks = setup("weighted_sum")
    with torch.no_grad():
        fusion.logits.copy_(torch.log(torch.tensor([1.0, 3.0, 6.0])))  # weights 0.1, 0.3, 0.6
    vec = {m: fusion.proj[i](feats[m]) for i, m in enumerate(fusion.modalities)}
    fused = fusion.fuse(feats, masks)
    torch.testing.assert_close(fused[0], 0.1 * vec["a"][0] + 0.3 * vec["b"][0] + 0.6 * vec["c"][0])
    torch.testing.assert_close(fused[1], 0.25 * vec["a"][1] + 0.75 * vec["b"][1])  # c absent: 1:3


def test_gated_with_one_modality_present_is_its_tanh_projection():
    fusion, feats, masks = setup("gated")
    fused = fusion.fuse(feats, masks)
    torch.testing.assert_close(fused[2], torch.tanh(fusion.proj[2](feats["c"][2:3]))[0])  # only c
    assert fused.abs().max() <= 1  # a convex mix of tanh values


def test_gated_with_two_modalities_is_the_gmu():
    """h = z * h_a + (1 - z) * h_b with z = sigmoid(gate_a - gate_b), as in Arevalo et al."""
    fusion, feats, masks = setup("gated", dims={"a": 5, "b": 7})
    pre = torch.stack([fusion.proj[i](feats[m]) for i, m in enumerate(fusion.modalities)], dim=1)
    gate = fusion.gate(torch.cat([pre.flatten(1), torch.ones(B, 2)], dim=1)).view_as(pre)
    z = torch.sigmoid(gate[:, 0] - gate[:, 1])
    expected = z * torch.tanh(pre[:, 0]) + (1 - z) * torch.tanh(pre[:, 1])
    torch.testing.assert_close(fusion.fuse(feats, masks)[:2], expected[:2])


def test_late_average_is_the_mean_of_present_heads():
    fusion, feats, masks = setup("late")
    with torch.no_grad():
        fusion.empty.copy_(torch.tensor([1.0, 2.0, 3.0]))
    logit = {m: fusion.heads[i](feats[m]) for i, m in enumerate(fusion.modalities)}
    out = fusion(feats, masks)
    torch.testing.assert_close(out[0], (logit["a"][0] + logit["b"][0] + logit["c"][0]) / 3)
    torch.testing.assert_close(out[1], (logit["a"][1] + logit["b"][1]) / 2)
    torch.testing.assert_close(out[2], logit["c"][2])
    torch.testing.assert_close(out[3], torch.tensor([1.0, 2.0, 3.0]))
    assert fusion.output_is_logits


def test_late_learned_weights_over_present_heads():
    fusion, feats, masks = setup("late", combine="learned")
    with torch.no_grad():
        fusion.logits.copy_(torch.log(torch.tensor([1.0, 3.0, 6.0])))
    logit = {m: fusion.heads[i](feats[m]) for i, m in enumerate(fusion.modalities)}
    out = fusion(feats, masks)
    torch.testing.assert_close(out[1], 0.25 * logit["a"][1] + 0.75 * logit["b"][1])


def test_late_vote_trains_like_average_and_votes_in_eval():
    fusion, feats, masks = setup("late", combine="vote")
    average = build_fusion("late", in_dims=DIMS, out_dim=3, hidden=8)
    average.load_state_dict(fusion.state_dict())
    torch.manual_seed(2)
    trained = fusion.train()(feats, masks)
    torch.manual_seed(2)
    torch.testing.assert_close(trained, average.train()(feats, masks))
    fusion.eval()
    logits = fusion.head_logits(feats, masks)
    out = fusion(feats, masks)
    assert torch.equal(out.argmax(1)[2], logits[2, 2].argmax())  # one voter: its own choice
    torch.testing.assert_close(out.exp().sum(1), torch.ones(B))  # log-probabilities


def test_vote_majority_then_tie_break_by_average():
    logits = torch.tensor([[[5.0, 0, 0], [4.0, 0, 0], [0, 9.0, 0]],   # votes 0, 0, 1 -> 0
                           [[5.0, 0, 0], [0, 1.0, 0], [0, 0, 0]]])    # third absent: 1 vote each -> tie
    present = torch.tensor([[True, True, True], [True, True, False]])
    mean = torch.tensor([[3.0, 3.0, 0.0], [0.0, 1.0, 0.0]])  # row 1's tie goes to class 1
    out = vote(logits, present, mean)
    assert out.argmax(1).tolist() == [0, 1]
    soft = mean.softmax(1)
    torch.testing.assert_close(out.exp()[0], (torch.tensor([2.0, 1.0, 0.0]) + TIE_SHARE * soft[0]) / (3 + TIE_SHARE))
    assert torch.isfinite(vote(torch.zeros(1, 2, 3), torch.zeros(1, 2, dtype=torch.bool), torch.zeros(1, 3))).all()


def test_late_rejects_an_unknown_combine():
    with pytest.raises(PolymodalError, match="average, learned, vote"):
        build_fusion("late", in_dims=DIMS, out_dim=3, combine="median")


def test_tensor_fusion_size_and_outer_product():
    fusion, feats, masks = setup("tensor", rank_dim=2)
    assert fusion.fused_dim == math.prod([3, 3, 3]) == 27
    z = {m: torch.cat([fusion.proj[i](feats[m]), torch.ones(B, 1)], 1) for i, m in enumerate(fusion.modalities)}
    outer = fusion.outer(feats, masks)
    assert outer.shape == (B, 27)
    torch.testing.assert_close(outer[0], torch.kron(torch.kron(z["a"][0], z["b"][0]), z["c"][0]))
    only_const = torch.tensor([0.0, 0.0, 1.0])  # an absent modality contributes [0, 0, 1]
    torch.testing.assert_close(outer[1], torch.kron(torch.kron(z["a"][1], z["b"][1]), only_const))
    assert torch.equal(outer[3], torch.eye(27)[-1])  # nothing present: only the all-constants term
    big = build_fusion("tensor", in_dims={"a": 2, "b": 2, "c": 2, "d": 2}, out_dim=3, rank_dim=4)
    assert big.fused_dim == 5 ** 4 and big.mlp[1].in_features == 625


def test_low_rank_equals_tensor_fusion_with_the_reconstructed_weight():
    """LMF's factorised product equals the full outer-product contraction with W = sum_r w_r (x)_m W_m^(r)."""
    fusion, feats, masks = setup("low_rank", dims={"a": 5, "b": 7}, rank=3)
    h, r = 8, 3
    z = [torch.cat([masked_proj, torch.ones(B, 1)], 1) for masked_proj in
         (fusion.proj[0](feats["a"]) * masks["a"][:, None], fusion.proj[1](feats["b"]) * masks["b"][:, None])]
    fa, fb = (f.view(h + 1, r, h) for f in fusion.factors)
    full = torch.einsum("r,irh,jrh->ijh", fusion.rank_weights, fa, fb)  # [h+1, h+1, h]
    expected = torch.einsum("bi,bj,ijh->bh", z[0], z[1], full) + fusion.bias
    torch.testing.assert_close(fusion.fuse(feats, masks), expected, atol=1e-5, rtol=1e-4)


def test_concat_sees_features_and_presence_bits():
    fusion, feats, masks = setup("concat")
    assert fusion.mlp[0].in_features == 5 + 7 + 3 + 3
    # A present modality whose features are all zero differs from an absent one: the presence bit.
    zeros = {**feats, "c": torch.zeros(B, 3)}
    present_c = {**masks, "c": torch.ones(B, dtype=torch.bool)}
    absent_c = {**masks, "c": torch.zeros(B, dtype=torch.bool)}
    assert not torch.allclose(fusion(zeros, present_c), fusion(zeros, absent_c))


# Fusions in which an absent modality takes no part at all, so even its own parameters
# (projection, head, block) cannot move the row. Not concat (an absent modality still
# passes its LayerNorm bias) nor low_rank (its factor's constant row), by design.
EXCLUDING = ["weighted_sum", "gated", "attention", "cross_attention", "late", "tensor"]


@pytest.mark.parametrize("name", EXCLUDING)
def test_absent_modalities_own_parameters_do_not_matter(name):
    fusion, feats, masks = setup(name)  # c is absent from rows 1 (a+b) and 3 (nothing)
    before = fusion(feats, masks)
    with torch.no_grad():
        for pname, p in fusion.named_parameters():
            if re.match(r"(proj|expand|heads|blocks|norms)\.2\.", pname):  # modality c's own modules
                p.add_(torch.randn_like(p))
    after = fusion(feats, masks)
    c = masks["c"]
    torch.testing.assert_close(after[~c], before[~c], atol=1e-6, rtol=0)
    assert not torch.allclose(after[c], before[c])  # the perturbation does bite where c is present
