import math

import torch
import torch.nn.functional as F

from polymodal.alignment.losses import info_nce, positive_mask, sigmoid_loss


def test_info_nce_against_a_hand_computed_value():
    za = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    zb = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    scale = torch.log(torch.tensor(2.0))  # logits = 2 * cosine
    # a->b: row 0 logits [1.2, 0.0] (positive 1.2); row 1 logits [1.6, 2.0] (positive 2.0)
    a_to_b = (-(1.2 - math.log(math.exp(1.2) + 1)) - (2.0 - math.log(math.exp(1.6) + math.exp(2.0)))) / 2
    # b->a: column view: row 0 logits [1.2, 1.6] (positive 1.2); row 1 logits [0.0, 2.0] (positive 2.0)
    b_to_a = (-(1.2 - math.log(math.exp(1.2) + math.exp(1.6))) - (2.0 - math.log(1 + math.exp(2.0)))) / 2
    loss = info_nce(za, zb, torch.tensor([0, 1]), scale)
    assert abs(float(loss) - (a_to_b + b_to_a) / 2) < 1e-6


def test_info_nce_equals_clip_cross_entropy_without_duplicates():
    g = torch.Generator().manual_seed(0)
    za, zb = F.normalize(torch.randn(6, 4, generator=g), dim=1), F.normalize(torch.randn(6, 4, generator=g), dim=1)
    scale = torch.tensor(2.5)
    logits = scale.exp() * za @ zb.T
    clip = (F.cross_entropy(logits, torch.arange(6)) + F.cross_entropy(logits.T, torch.arange(6))) / 2
    assert torch.allclose(info_nce(za, zb, torch.arange(6), scale), clip, atol=1e-6)


def test_duplicate_captions_are_not_negatives_of_each_other():
    # rows 0 and 1 share a caption: their images may match either copy without penalty
    za = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    zb = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    scale = torch.log(torch.tensor(10.0))
    with_keys = info_nce(za, zb, torch.tensor([0, 0, 1]), scale)
    without = info_nce(za, zb, torch.tensor([0, 1, 2]), scale)
    assert float(with_keys) < 1e-3 < float(without)  # unique keys would punish the identical pair
    assert positive_mask(torch.tensor([0, 0, 1])).tolist() == [[True, True, False], [True, True, False],
                                                                 [False, False, True]]


def test_sigmoid_loss_against_a_hand_computed_value():
    za = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    zb = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    t, b = torch.log(torch.tensor(10.0)), torch.tensor(-5.0)
    # positives: logit 10*1-5 = 5; negatives: 10*0-5 = -5 (label -1 -> log sigmoid(5))
    expected = -(2 * math.log(1 / (1 + math.exp(-5))) + 2 * math.log(1 / (1 + math.exp(-5)))) / 2
    assert abs(float(sigmoid_loss(za, zb, torch.tensor([0, 1]), t, b)) - expected) < 1e-6
