"""Fusion options: flat (every fusion trained) or per fusion, checked before any training, from the CLI too;
the unimodal baselines keep their defaults."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import polymodal as pm
from polymodal.cli import main
from polymodal.errors import PolymodalError
from polymodal.fusion.base import fusion_names
from polymodal.fusion.options import check_options, option_defaults, option_names, options_for, parse_cli


def _numbers(n: int = 60) -> pd.DataFrame:
    rng = torch.Generator().manual_seed(0)
    x1, x2 = torch.randn(n, generator=rng), torch.randn(n, generator=rng)
    return pd.DataFrame({"x1": x1.tolist(), "x2": x2.tolist(), "y": ["p" if v > 0 else "q" for v in x1 + x2]})


def test_every_fusion_lists_its_options_with_defaults():
    for name in fusion_names():
        defaults = option_defaults(name)
        assert {"hidden", "dropout"} <= set(defaults) and "in_dims" not in defaults
        assert list(defaults) == option_names(name)
    assert option_defaults("gated")["gate_rank"] == 64 and option_defaults("late")["combine"] == "average"


def test_options_for_reads_both_forms():
    assert options_for(None, "gated") == {}
    assert options_for({"gate_rank": 0}, "gated") == {"gate_rank": 0}
    per = {"gated": {"gate_rank": 0}, "attention": {"width": 32}}
    assert options_for(per, "attention") == {"width": 32}
    assert options_for(per, "concat") == {}


@pytest.mark.parametrize(("options", "trained", "message"), [
    ({"gate_rank": 0}, ["gated", "concat"], r"fusion 'concat' has no option 'gate_rank'.*hidden, dropout.*gated"),
    ({"gated": {"rank": 2}}, ["gated"], r"fusion 'gated' has no option 'rank'; its options: hidden, dropout, "),
    ({"gatd": {"gate_rank": 0}}, ["gated"], r"unknown fusion 'gatd'; valid: attention"),
    ({"tensor": {"rank_dim": 4}}, ["gated"], r"'tensor', which this fit does not train \(it trains gated\)"),
    ({"gated": {"gate_rank": 0}, "width": 3}, ["gated"], r"mix the per-fusion form with flat options \(width\)"),
])
def test_bad_options_are_named(options, trained, message):
    with pytest.raises(PolymodalError, match=message):
        check_options(options, trained)


@pytest.mark.parametrize(("options", "message"), [
    ({"late": {"combine": "votes"}}, r"fusion 'late' with options .*unknown late-fusion combine 'votes'"),
    ({"attention": {"width": 30}}, r"fusion 'attention' with options .*not divisible by heads"),
    ({"gated": {"gate_rank": "wide"}}, r"fusion 'gated' .*gate_rank"),
])
def test_bad_values_are_caught_before_training(options, message):
    with pytest.raises(PolymodalError, match=message):
        check_options(options, fusion_names(), base={"hidden": 16, "dropout": 0.1})


def test_checking_leaves_the_random_state_alone():
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    check_options({"gated": {"gate_rank": 0}}, ["gated"])
    assert torch.equal(torch.rand(3), expected)


def test_good_options_pass():
    check_options({"gate_rank": 0, "hidden": 16}, ["gated"])
    check_options({"gated": {"gate_rank": 0}, "late": {"combine": "vote"}}, fusion_names())


@pytest.mark.parametrize(("raw", "value"), [
    ("0", 0), ("-1", -1), ("0.0", 0.0), ("0.25", 0.25), ("1e-3", 1e-3), ("true", True), ("False", False),
    ("vote", "vote"), ("", ""),
])
def test_cli_values_are_typed(raw, value):
    got = parse_cli([f"late.x={raw}"])["late"]["x"]
    assert got == value and type(got) is type(value)  # 0 == 0.0 == False: the type must match too


def test_cli_forms_and_mistakes():
    assert parse_cli(["gated.gate_rank=0", "late.combine=vote", "attention.dropout=0.25", "attention.width=32"]) == {
        "gated": {"gate_rank": 0}, "late": {"combine": "vote"}, "attention": {"dropout": 0.25, "width": 32}}
    assert parse_cli(["gate_rank=8"]) == {"gate_rank": 8}
    assert parse_cli([" gated . gate_rank = 0"]) == {"gated": {"gate_rank": 0}}
    assert parse_cli(["my.fusion.k=1"]) == {"my.fusion": {"k": 1}}
    assert parse_cli(None) == {}
    with pytest.raises(PolymodalError, match=r"every option as FUSION\.KEY=VALUE"):
        parse_cli(["gated.gate_rank=0", "width=3"])
    for bad in ("gate_rank", ".gate_rank=0", "gated.=0", "=3"):
        with pytest.raises(PolymodalError, match="expected KEY=VALUE"):
            parse_cli([bad])
    with pytest.raises(PolymodalError, match=r"gated\.gate_rank is given twice"):
        parse_cli(["gated.gate_rank=0", "gated.gate_rank=8"])
    with pytest.raises(PolymodalError, match="not a finite number"):
        parse_cli(["late.x=nan"])


def test_flat_options_reach_the_fusion_but_not_the_baselines(tmp_path):
    """Baselines are concat over one column: before per-fusion options they received the gated fusion's
    `gate_rank` too, and the fit failed."""
    # the saved model must be the fusion: no ensemble, no classical candidate (LightGBM reads these numbers)
    # tabular="separate": the two numbers as two modalities, so that there are per-column baselines
    p = pm.Predictor("y", fusion="gated", fusion_options={"gate_rank": 0}, hidden=8, epochs=2, ensemble=False,
                     classical="none", tabular="separate", progress=False).fit(_numbers(), out=tmp_path / "run")
    assert {c.name for c in p.candidates_} == {"gated", "only:x1", "only:x2"}
    assert "gate.weight" in p.model_.fusion.state_dict()  # the full gate (rank 0), not the factored one
    again = pm.load(tmp_path / "run")
    assert again.fusion_options == {"gate_rank": 0} and again.model_options_ == {"gate_rank": 0}


def test_per_fusion_options_build_each_fusion_and_reload(tmp_path):
    options = {"gated": {"gate_rank": 0}, "attention": {"width": 8}}
    # classical="none": the saved model must be one of these fusions (LightGBM reads the numbers too)
    p = pm.Predictor("y", fusion="gated,attention", fusion_options=options, hidden=16, epochs=2, baselines=False,
                     classical="none", progress=False).fit(_numbers(), out=tmp_path / "run")
    saved = {name: load_file(str(tmp_path / "run" / "candidates" / f"{name}.safetensors"))
             for name in ("gated", "attention")}
    assert "fusion.gate.weight" in saved["gated"]  # the full gate
    assert tuple(saved["attention"]["fusion.query"].shape) == (8,)  # 8-wide tokens
    again = pm.load(tmp_path / "run")
    assert again.fusion_options == options  # as given, for every fusion
    assert again.model_options_ == options[p.fusion_]
    assert json.loads((tmp_path / "run" / "model.json").read_text())["fusion_options"] == options[p.fusion_]
    pd.testing.assert_frame_equal(again.predict_proba(_numbers()), p.predict_proba(_numbers()))
    again.fit(_numbers(), out=tmp_path / "refit")  # a loaded predictor refits with what it was given
    assert again.fusion_options == options


def test_resume_refuses_other_arguments(tmp_path):
    run = tmp_path / "run"
    pm.Predictor("y", fusion="gated", fusion_options={"gate_rank": 0}, hidden=8, epochs=2, baselines=False,
                 progress=False).fit(_numbers(), out=run)
    (run / "polymodal.json").unlink()  # as a fit killed before its save leaves it
    with pytest.raises(PolymodalError, match=r"cannot resume .*fusion_options was \{'gate_rank': 0\}, now None"):
        pm.Predictor("y", fusion="gated", hidden=8, epochs=2, baselines=False, progress=False).fit(
            _numbers(), out=run, resume=True)
    # the same arguments resume (the finished candidate is reloaded); other ones start over without --resume
    pm.Predictor("y", fusion="gated", fusion_options={"gate_rank": 0}, hidden=8, epochs=2, baselines=False,
                 progress=False).fit(_numbers(), out=run, resume=True)
    pm.Predictor("y", fusion="gated", hidden=8, epochs=2, baselines=False, progress=False).fit(_numbers(), out=run,
                                                                                               overwrite=True)
    assert json.loads((run / "fit_args.json").read_text())["fusion_options"] is None


def test_bad_options_fail_before_the_table_is_read(tmp_path):
    with pytest.raises(PolymodalError, match="fusion 'concat' has no option 'gate_rank'"):
        pm.Predictor("y", fusion="concat", fusion_options={"gate_rank": 0}).fit(tmp_path / "no-such-table.csv")


def test_cli_fit_passes_fusion_options_and_lists_fusions(tmp_path, capsys):
    table = tmp_path / "t.csv"
    _numbers().to_csv(table, index=False)
    out = tmp_path / "run"
    assert main(["fit", str(table), "--label", "y", "--fusion", "gated,late", "--epochs", "2", "--hidden", "8",
                 "--fusion-option", "gated.gate_rank=0", "--fusion-option", "late.combine=vote",
                 "--no-baselines", "--classical", "none", "--out", str(out)]) == 0  # the saved model: a fusion
    recorded = json.loads((out / "polymodal.json").read_text())["fit"]["fusion_options"]
    assert recorded == {"gated": {"gate_rank": 0}, "late": {"combine": "vote"}}
    best = json.loads((out / "model.json").read_text())
    assert best["fusion_options"] == recorded[best["fusion"]]
    capsys.readouterr()
    assert main(["fit", str(table), "--label", "y", "--fusion", "concat", "--fusion-option", "gate_rank=0",
                 "--out", str(tmp_path / "bad")]) != 0
    assert "fusion 'concat' has no option 'gate_rank'" in capsys.readouterr().err
    assert main(["fit", str(table), "--task", "caption", "--fusion-option", "gate_rank=0"]) != 0
    assert "--task caption has no fusion" in capsys.readouterr().err
    assert main(["fusions"]) == 0
    listing = capsys.readouterr().out
    assert "gate_rank=64" in listing and "combine=average" in listing and "cross_attention" in listing
