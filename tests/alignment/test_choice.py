"""Choosing the alignment method: the closed forms against each other on synthetic features where
CCA must win, the tie and forced rules, heads started at the CCA solution, bad methods named."""

import numpy as np
import pytest
import torch

import polymodal as pm
from polymodal import PolymodalError
from polymodal.alignment.candidates import choose, fit_closed_forms, method_choices, space_outputs
from polymodal.alignment.evaluation import validation_scores
from polymodal.alignment.methods import build_method
from polymodal.alignment.model import AlignmentModel
from polymodal.training.data import ArrayData


def nuisance_pairs(n: int, seed: int) -> ArrayData:
    """A weak 3-d latent shared by two columns, buried under strong independent noise in each: the
    top principal directions (Procrustes, ridge) and raw cosines (ASIF) see mostly noise, while CCA
    looks for what the columns share."""
    maps = np.random.default_rng(7)
    mix_a, mix_b = maps.normal(size=(3, 30)), maps.normal(size=(3, 20))
    loud_a, loud_b = 8 * maps.normal(size=(6, 30)), 8 * maps.normal(size=(6, 20))
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 3))
    a = latent @ mix_a + rng.normal(size=(n, 6)) @ loud_a + 0.05 * rng.normal(size=(n, 30))
    b = latent @ mix_b + rng.normal(size=(n, 6)) @ loud_b + 0.05 * rng.normal(size=(n, 20))
    present = torch.ones(n, dtype=torch.bool)
    return ArrayData({"a": torch.tensor(a, dtype=torch.float32), "b": torch.tensor(b, dtype=torch.float32)},
                     {"a": present, "b": present.clone()}, torch.arange(n))


def test_auto_serves_the_validation_best_and_cca_wins_where_only_it_can():
    train, val, test = nuisance_pairs(80, 0), nuisance_pairs(40, 1), nuisance_pairs(40, 2)
    spaces, details = fit_closed_forms(["a", "b"], 3, train, val)
    assert set(spaces) == {"asif", "cca", "procrustes", "ridge"} and details["cca"]["dim"] == 3
    scores = validation_scores(["a", "b"], {n: space_outputs(s, val) for n, s in spaces.items()}, val)
    name, why = choose({n: s["mean_recall@1"] for n, s in scores.items()}, "auto")
    assert name == "cca" and why.startswith("best validation mean Recall@1") and scores["cca"]["mean_recall@1"] > 0.9
    assert why.index("cca") < why.index("ridge") and f"cca {scores['cca']['mean_recall@1']:.3f}" in why
    tested = validation_scores(["a", "b"], {n: space_outputs(s, test) for n, s in spaces.items()}, test)
    assert tested["cca"]["a->b"] >= 0.9 and tested["cca"]["b->a"] >= 0.9
    assert max(tested[n]["mean_recall@1"] for n in ("asif", "procrustes", "ridge")) < 0.5


def test_ties_go_to_the_simpler_method_and_a_forced_method_is_served():
    assert choose({"contrastive": 0.5, "asif": 0.5, "cca": 0.5}, "auto")[0] == "cca"
    assert choose({"contrastive": 0.5, "asif": 0.5}, "auto")[0] == "asif"
    assert choose({"contrastive": 0.6, "cca": 0.5}, "auto")[0] == "contrastive"
    name, why = choose({"contrastive": 0.6, "cca": 0.5}, "cca")
    assert name == "cca" and why.startswith("asked for (method='cca')") and "contrastive 0.600" in why


def test_residual_heads_start_exactly_at_the_cca_solution():
    data = nuisance_pairs(60, 0)
    feats = {c: data.inputs[c].double().numpy() for c in ("a", "b")}
    cca = build_method("cca", ["a", "b"], 3).fit(feats)
    model = AlignmentModel({"a": 30, "b": 20}, {}, dim=8, hidden=16, residual=True)
    model.start_at({c: tuple(torch.from_numpy(x).float() for x in cca.linear(c)) for c in ("a", "b")})
    model.eval()
    for c in ("a", "b"):
        z = model.embed(c, data.inputs[c]).detach().numpy()
        assert np.allclose(z[:, :3], cca.embed(c, feats[c]), atol=1e-5) and np.abs(z[:, 3:]).max() == 0


def test_bad_methods_are_named_before_any_work(tiny_table):
    with pytest.raises(PolymodalError, match="unknown alignment method 'pca'; valid: auto, contrastive, asif, cca"):
        pm.Aligner(method="pca")
    with pytest.raises(PolymodalError, match="unknown init 'zeros'"):
        pm.Aligner(init="zeros")
    with pytest.raises(PolymodalError, match="method 'cca' trains no heads"):
        pm.Aligner(["photo", "caption"], lock=["photo"], method="cca", progress=False).fit(tiny_table)
    # a closed form needs frozen features: said before any feature is extracted (gru is trainable)
    with pytest.raises(PolymodalError, match=r"'caption' uses the trainable encoder 'gru'.*'contrastive' or 'auto'"):
        pm.Aligner(["photo", "caption"], encoders={"text": "gru", "image": "efficientnet-lite0"},
                   method="cca", progress=False).fit(tiny_table)


def test_cli_method_choices_match_the_library_and_a_bad_one_stops_argparse(capsys):
    from polymodal.cli import align, main

    assert set(align.METHODS) == set(method_choices())
    with pytest.raises(SystemExit) as stop:
        main(["align", "no-such-table.csv", "--method", "pca"])
    assert stop.value.code == 2 and "invalid choice: 'pca'" in capsys.readouterr().err
