"""ONNX export of the fusion + head graph: parity with PyTorch for every registered fusion, encoders inside
the graph, runs exported on real rows, `predict --runtime onnx`, and models that cannot export."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from polymodal import PolymodalError
from polymodal.encoders.base import build_encoder
from polymodal.export.graph import export_head, graph_inputs, sample_inputs
from polymodal.export.runtime import OnnxHead, TorchHead, head_runner
from polymodal.fusion.base import build_fusion, fusion_names
from polymodal.predict.model import MultimodalModel

TOLERANCE = 1e-4
DIMS = {"audio": 24, "image": 40, "text": 16}


def model_with(fusion: str, trainable: dict | None = None, cached=DIMS, out_dim: int = 5, **options):
    torch.manual_seed(0)
    trainable = trainable or {}
    in_dims = {**cached, **{c: e.out_dim for c, e in trainable.items()}}
    probe = build_fusion(fusion, in_dims=in_dims, out_dim=1)
    fusion_module = build_fusion(fusion, in_dims=in_dims, out_dim=out_dim if probe.output_is_logits else 24,
                                 hidden=24, **options)
    return MultimodalModel(trainable, cached, fusion_module, out_dim).eval()


def max_diff(model, path, batch: int, seed: int) -> float:
    specs = graph_inputs(model)
    sample = sample_inputs(specs, batch=batch, seed=seed)
    inputs = {s.column: sample[s.name] for s in specs}
    masks = {s.column: sample[s.mask] for s in specs}
    if batch > 2:  # a row with every modality absent must agree too
        for s in specs:
            masks[s.column][-1] = False
    got = OnnxHead(path, specs)(inputs, masks)
    want = TorchHead(model)(inputs, masks)
    assert torch.isfinite(got).all()
    return float((got - want).abs().max())


CASES = [(name, {}) for name in fusion_names()] + [("late", {"combine": "learned"}), ("late", {"combine": "vote"})]


@pytest.mark.parametrize("fusion,options", CASES, ids=[f"{n}{'-' + o['combine'] if o else ''}" for n, o in CASES])
def test_every_fusion_exports_with_logits_within_tolerance(fusion, options, tmp_path):
    model = model_with(fusion, **options)
    path, _ = export_head(model, tmp_path / "head.onnx")
    for batch, seed in ((1, 1), (7, 2), (33, 3)):  # other batch sizes and masks than the trace saw
        assert max_diff(model, path, batch, seed) < TOLERANCE


def test_every_registered_fusion_is_covered():
    assert {name for name, _ in CASES} == set(fusion_names())


@pytest.mark.parametrize("fusion", ["concat", "cross_attention"])
def test_trainable_tensor_encoders_are_part_of_the_graph(fusion, tmp_path):
    """A scratch image CNN (tokens for cross-attention) and a numeric MLP run inside the exported graph."""
    cnn = build_encoder("cnn", image_size=16, width=4, out_dim=12)
    number = build_encoder("numeric", mean=1.0, std=2.0)
    model = model_with(fusion, trainable={"photo": cnn, "weight": number}, cached={"text": 16})
    specs = graph_inputs(model)
    assert [(s.column, s.kind, s.shape) for s in specs] == [
        ("photo", "input", (3, 16, 16)), ("text", "features", (16,)), ("weight", "input", ())]
    path, _ = export_head(model, tmp_path / "head.onnx")
    assert max_diff(model, path, 5, 4) < TOLERANCE


def test_string_encoders_are_named_when_a_model_cannot_export(tmp_path):
    gru = build_encoder("gru")
    gru.prepare(["a red square", "a blue circle"])
    model = model_with("concat", trainable={"caption": gru}, cached={"image": 8})
    with pytest.raises(PolymodalError, match="column 'caption': encoder 'gru' takes strings"):
        export_head(model, tmp_path / "head.onnx")


def test_head_runner_exports_once_and_checks_parity():
    model = model_with("gated")
    first = head_runner(model, "onnx")
    assert first.parity is not None and first.parity < TOLERANCE
    assert head_runner(model, "onnx") is first and first.path.exists()
    assert isinstance(head_runner(model, "torch"), TorchHead)
    with pytest.raises(PolymodalError, match="unknown runtime 'tensorrt'"):
        head_runner(model, "tensorrt")


@pytest.mark.slow
def test_export_a_run_on_real_rows_and_predict_with_onnx_runtime(tensor_run, table, tmp_path, capsys):
    from polymodal.cli import main

    out = tmp_path / "export"
    assert main(["export", str(tensor_run), "--format", "onnx", "--out", str(out), "--samples", str(table)]) == 0
    assert "head max abs diff" in capsys.readouterr().out
    parity = json.loads((out / "parity.json").read_text())
    assert parity["samples"] == "real rows" and parity["rows"] == 32
    assert parity["head_max_abs_diff"] < TOLERANCE
    manifest = json.loads((out / "export.json").read_text())
    assert [c["column"] for c in manifest["inputs"]] == ["photo", "sound", "weight"]
    assert (out / "model.onnx").exists() and (out / "task.json").exists()
    for column in manifest["inputs"]:  # the frozen MFCC either exported with its parity, or says why not
        if column["kind"] == "features":
            assert column["encoder_onnx"] or column["encoder_note"]
    for runtime in ("torch", "onnx"):
        assert main(["predict", str(tensor_run), str(table), "--runtime", runtime,
                     "-o", str(tmp_path / f"{runtime}.csv")]) == 0
    torch_out, onnx_out = (pd.read_csv(tmp_path / f"{r}.csv") for r in ("torch", "onnx"))
    assert (torch_out["color"] == onnx_out["color"]).all()
    proba = [c for c in torch_out.columns if c.startswith("proba_")]
    assert (torch_out[proba] - onnx_out[proba]).abs().to_numpy().max() < TOLERANCE


def test_export_refuses_a_run_with_a_text_encoder_trained_inside(predictor_run, tmp_path):
    from polymodal.cli import main

    assert main(["export", str(predictor_run), "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
