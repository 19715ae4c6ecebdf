"""k-fold bagging (predict/bagging.py): the folds partition the pooled training and validation rows, each
candidate is scored on out-of-fold predictions made by the fold model that did not train on them, the bag
averages its fold models, ensemble selection over bags stays flat, and the saved bag reloads to the same
predictions. Bad `bag_folds` values are refused before any work."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
from tests.serving_fixtures import make_table

import polymodal as pm
from polymodal import PolymodalError
from polymodal.cli import main
from polymodal.data.splits import fold_rows
from polymodal.predict import predictor as predictor_module
from polymodal.predict.weighted import WeightedEnsemble
from polymodal.training.data import ArrayData
from polymodal.training.loop import predict_logits

ENCODERS = {"image": "cnn:image_size=16:width=4:out_dim=16", "audio": "mfcc", "text": "gru"}


@pytest.fixture(scope="module")
def bagged(tmp_path_factory):
    """A classical-only 3-fold bag (linear probe and kNN on the fixed features: `sound` MFCCs and `weight`),
    with every fold's training and stopping rows recorded."""
    folder = tmp_path_factory.mktemp("bag")
    table = make_table(folder, rows=60)
    folds = []
    once = predictor_module.Predictor._train_once

    def recording(self, splits, workdir, resume, *, stage=""):
        folds.append({k: v.inputs["weight"].clone() for k, v in splits.items()})
        return once(self, splits, workdir, resume, stage=stage)

    p = pm.Predictor("color", fusion="none", encoders=ENCODERS, classical="linear,knn", bag_folds=3,
                     estimate="holdout", progress=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(predictor_module.Predictor, "_train_once", recording)
        p.fit(table, out=folder / "run")
    return p, folder / "run", table, folds


def test_the_folds_partition_the_pooled_training_and_validation_rows(bagged):
    p, _, _, folds = bagged
    pooled = p.split_sizes_["train"] + p.split_sizes_["val"]
    assert len(folds) == 3
    held = [set(f["val"].flatten().tolist()) for f in folds]  # `weight` is distinct on every row
    for f, h in zip(folds, held, strict=True):
        assert not h & set(f["train"].flatten().tolist())  # a fold never trains on the rows it stops on
        assert len(h) + len(f["train"]) == pooled
    assert sum(len(h) for h in held) == pooled and len(set.union(*held)) == pooled  # each row held out once


def test_each_candidate_is_a_bag_scored_out_of_fold(bagged):
    p, _, _, _ = bagged
    pooled = p.split_sizes_["train"] + p.split_sizes_["val"]
    for name in ("linear-probe", "knn"):
        cand = next(c for c in p.candidates_ if c.name == name)
        assert isinstance(cand.model, WeightedEnsemble) and len(cand.model.members) == 3
        assert cand.model.weights.tolist() == pytest.approx([1 / 3] * 3)
        logits, targets = cand.selection
        assert len(logits) == pooled == len(targets)
        assert cand.val == p.task_.metrics(logits, targets)  # the validation figures are the out-of-fold ones


def test_out_of_fold_rows_are_predicted_by_the_model_that_did_not_train_on_them(bagged, tmp_path):
    """Rebuild the pool and its folds as bagging does (training rows, then validation rows; the seeded,
    stratified folds of data/splits.py) and check the probe's out-of-fold logits row by row."""
    p, _, table, _ = bagged
    from polymodal.data.table import read_table
    from polymodal.encoders.materialize import materialize
    from polymodal.tasks import encode_targets

    data = read_table(table)
    arrays = materialize(data, p.schema_, p.encoders_, progress=False)
    arrays.targets = encode_targets(p.task_, data.df)
    probe = next(c for c in p.candidates_ if c.name == "linear-probe")
    order = _split_rows(p, data)
    pool = ArrayData.concat([arrays.subset(torch.as_tensor(order["train"])),
                             arrays.subset(torch.as_tensor(order["val"]))])
    assert torch.equal(pool.targets, probe.selection[1])
    for k, held in enumerate(fold_rows(len(pool), pool.targets.numpy(), folds=3, seed=p.seed)):
        rows = pool.subset(torch.as_tensor(held))
        own = predict_logits(probe.model.members[k], rows)
        # the same model on the same rows: equal up to float summation order in the batched forward
        assert torch.allclose(probe.selection[0][torch.as_tensor(held)], own, atol=1e-5)


def _split_rows(p, table):
    from polymodal.data.splits import split_rows

    return split_rows(table.df, p.schema_, p._stratify_on(), seed=p.seed, test=True)


def test_the_saved_bag_reloads_to_the_same_predictions_and_says_what_it_is(bagged):
    p, run, table, _ = bagged
    model = json.loads((run / "model.json").read_text())
    assert model["combine"] == "proba"
    assert len(model["members"]) == len(p.best_.parts) >= 3
    again = pm.load(run)
    assert isinstance(again.model_, WeightedEnsemble)
    pd.testing.assert_frame_equal(p.predict_proba(table), again.predict_proba(table))
    card = (run / "README.md").read_text()
    assert ("-fold bag** of" in card or "each a 3-fold bag" in card) and "out-of-fold predictions." in card


def test_ensemble_selection_over_bags_is_flat(bagged):
    """Selection weighs bags on their out-of-fold probabilities, and the saved ensemble lists each fold model
    with its share of its bag's weight. Three copies of the probe's bag, each given out-of-fold predictions
    wrong on a different third of the rows, so that the selection must keep all three."""
    p, _, _, _ = bagged
    probe = next(c for c in p.candidates_ if c.name == "linear-probe")
    targets = probe.selection[1]
    n, classes = len(targets), len(p.task_.classes)
    bags = []
    for third in range(3):
        pred = targets.clone()
        wrong = torch.arange(n) % 3 == third
        pred[wrong] = (pred[wrong] + 1) % classes
        logits = torch.nn.functional.one_hot(pred, classes).float() * 2.0
        bags.append(dataclasses.replace(probe, name=f"bag{third}", selection=(logits, targets),
                                        val=p.task_.metrics(logits, targets),
                                        parts=[{**m, "name": f"bag{third}"} for m in probe.parts]))
    empty = ArrayData({}, {"x": torch.zeros(0, dtype=torch.bool)})
    ens = p._ensemble(bags, {"val": empty, "test": empty})
    assert ens is not None and {m["name"] for m in ens.parts} == {"bag0", "bag1", "bag2"}
    assert len(ens.parts) == 9 and len(ens.model.members) == 9  # three fold models per bag, one level deep
    assert not any(isinstance(m, WeightedEnsemble) for m in ens.model.members)
    assert sum(m["weight"] for m in ens.parts) == pytest.approx(1)
    assert ens.val["accuracy"] > max(b.val["accuracy"] for b in bags)  # scored out-of-fold, like its members


def test_a_regression_bag_averages_outputs(tmp_path):
    table = make_table(tmp_path, rows=45)
    df = pd.read_csv(table).drop(columns=["color"])
    df.to_csv(tmp_path / "reg.csv", index=False)
    p = pm.Predictor("weight", fusion="none", encoders=ENCODERS, classical="linear", bag_folds=2,
                     estimate="holdout", progress=False).fit(tmp_path / "reg.csv", out=tmp_path / "run")
    assert p.model_.combine == "mean" and len(p.model_.members) == 2
    members = [predict_logits(m, _arrays(p, tmp_path / "reg.csv")) for m in p.model_.members]
    both = predict_logits(p.model_, _arrays(p, tmp_path / "reg.csv"))
    assert torch.allclose(both, (members[0] + members[1]) / 2, atol=1e-5)  # float summation order
    again = pm.load(tmp_path / "run")
    np.testing.assert_allclose(again.predict(tmp_path / "reg.csv").to_numpy(), p.predict(tmp_path / "reg.csv"))


def _arrays(p, path):
    return p._inputs(path)[1]


@pytest.mark.parametrize("bad", [1, -2, 2.5, True, "3"])
def test_a_bad_bag_folds_value_is_refused_before_any_work(bad, tmp_path):
    with pytest.raises(PolymodalError, match=r"bag_folds must be 0 .* at least 2"):
        pm.Predictor("label", bag_folds=bad).fit(tmp_path / "no-such-table.csv")


def test_the_cli_refuses_a_bad_bag_folds_value(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "no-such-table.csv"), "--label", "x", "--bag-folds", "1", "--out",
                 str(tmp_path / "run")]) == 2
    assert "bag_folds must be 0" in capsys.readouterr().err
    assert not (tmp_path / "run" / "model.json").exists()


def test_rows_sharing_a_file_stay_in_one_bagging_fold(tmp_path):
    """Three rows per sound file: a fold that trained on one of them and scored another would score memory."""
    df = pd.read_csv(make_table(tmp_path, rows=60))
    df["sound"] = [f"snd/{(i // 3) * 3}.wav" for i in range(len(df))]
    df.to_csv(tmp_path / "shared.csv", index=False)
    folds = []
    once = predictor_module.Predictor._train_once

    def recording(self, splits, workdir, resume, *, stage=""):
        folds.append({round(w, 4) for w in splits["val"].inputs["weight"].flatten().tolist()})
        return once(self, splits, workdir, resume, stage=stage)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(predictor_module.Predictor, "_train_once", recording)
        pm.Predictor("color", fusion="none", encoders=ENCODERS, classical="linear", bag_folds=3,
                     estimate="holdout", progress=False).fit(tmp_path / "shared.csv")
    sound_of = {round(w, 4): s for w, s in zip(df["weight"], df["sound"], strict=True)}  # weight: a row id
    for held in folds:
        for sound in {sound_of[w] for w in held}:
            pooled = {w for w, s in sound_of.items() if s == sound} & set().union(*folds)
            assert pooled <= held  # every pooled row with this file is held out in the same fold


def test_a_bagged_neural_fit_keeps_its_fold_candidates_but_not_their_checkpoints(tmp_path):
    table = make_table(tmp_path, rows=30)
    pm.Predictor("color", fusion="concat", encoders=ENCODERS, classical="none", baselines=False, bag_folds=2,
                 epochs=1, batch_size=8, hidden=8, estimate="holdout", progress=False).fit(table, out=tmp_path / "run")
    run = tmp_path / "run"
    assert (run / "bag" / "fold1" / "candidates" / "concat.json").exists()  # what --resume would take up
    assert not list(run.rglob("checkpoints"))  # per-epoch work, removed once the run is saved
