"""Plots write real PNGs and leave no figure open; the HTML report is self-contained and escaped."""

from __future__ import annotations

import base64
import io
import os
import re
import wave
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from polymodal.report import (
    Report,
    image_grid,
    plot_comparison,
    plot_confusion,
    plot_history,
    plot_missing_modality,
    plot_reliability,
)

HISTORY = [{"epoch": e, "train_loss": 1.0 / (e + 1), "val_loss": 1.2 / (e + 1) + 0.05 * e,
            "val_balanced_accuracy": [0.5, 0.7, 0.8, 0.75][e]} for e in range(4)]
ROWS = [{"name": "concat", "kind": "fusion", "accuracy": 0.81, "accuracy_std": 0.02},
        {"name": "image only", "kind": "unimodal", "accuracy": 0.64},
        {"name": "ensemble of 3", "kind": "ensemble", "accuracy": 0.84, "accuracy_std": 0.01}]
MISSING = [{"name": n, "condition": c, "accuracy": v} for n, base in (("concat", 0.8), ("gated", 0.82))
           for c, v in (("all modalities", base), ("without image", base - 0.2), ("without text", base - 0.1))]


def _proba(n: int = 60, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(n, classes))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return rng.integers(0, classes, n), proba


PLOTS = {
    "history": lambda p: plot_history(HISTORY, p, "balanced_accuracy"),
    "history_without_validation": lambda p: plot_history([{"epoch": 0, "train_loss": 1.0}], p, "accuracy"),
    "history_without_losses": lambda p: plot_history([{"epoch": 0}, {"epoch": 1}], p, "accuracy"),
    "confusion": lambda p: plot_confusion([[5, 1, 0], [1, 1, 0], [0, 1, 1]], ["a", "b", "c"], p),
    "confusion_counts_many": lambda p: plot_confusion(np.eye(25, dtype=int).tolist(), [f"c{i}" for i in range(25)],
                                                      p, normalize=False),
    "comparison": lambda p: plot_comparison(ROWS, p, "accuracy", "Test accuracy"),
    "missing_modality": lambda p: plot_missing_modality(MISSING, p, "accuracy"),
    "reliability": lambda p: plot_reliability(*_proba(), p),
    "image_grid": lambda p: image_grid([Image.new("RGBA", (40, 30), (255, 0, 0, 128)), Image.new("L", (20, 20), 90)],
                                       ["a red <b>box</b>", "a grey square with a long caption " * 3], p, cols=8),
}


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_plot_writes_a_png_and_closes_its_figure(tmp_path: Path, name: str):
    plt.close("all")
    path = PLOTS[name](tmp_path / "sub" / f"{name}.png")
    assert path == tmp_path / "sub" / f"{name}.png"
    assert path.stat().st_size > 0
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 100 and image.height > 100
    assert plt.get_fignums() == []


def test_image_grid_reads_paths(tmp_path: Path):
    source = tmp_path / "in.png"
    Image.new("RGB", (16, 16), "blue").save(source)
    out = image_grid([source] * 9, [str(i) for i in range(9)], tmp_path / "grid.png", cols=4)
    with Image.open(out) as image:
        assert image.height > image.width * 0.5  # three rows of four


def test_plots_reject_bad_input(tmp_path: Path):
    with pytest.raises(ValueError, match="accuracy"):
        plot_comparison([{"name": "x"}], tmp_path / "c.png", "accuracy", "t")
    with pytest.raises(ValueError, match="does not match"):
        plot_confusion([[1, 0], [0, 1]], ["a", "b", "c"], tmp_path / "m.png")
    with pytest.raises(ValueError, match="caption"):
        image_grid([Image.new("RGB", (4, 4))], [], tmp_path / "g.png")


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(buffer, format="PNG")
    return buffer.getvalue()


def _wav_bytes() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.zeros(800, dtype=np.int16).tobytes())
    return buffer.getvalue()


def _report(tmp_path: Path) -> Report:
    png = tmp_path / "plot.png"
    png.write_bytes(_png_bytes())
    report = Report("Run <3> & results")
    report.add_heading("Validation")
    report.add_text("Best model is **gated** with `lr=1e-3` and a <b>tag</b>.\n\nSecond paragraph.")
    report.add_metrics({"accuracy": 0.9123456, "n": 40, "roc_auc_ovr": None, "confusion_matrix": [[1]],
                        "per_class": {"a": {"f1": 1.0}}, "group": {"f1_macro": 0.5}})
    report.add_table([{"model": "concat", "accuracy": 0.8, "log_loss": 0.5},
                      {"model": "gated", "accuracy": 0.9, "log_loss": 0.7}],
                     caption="Models", highlight_max=["accuracy", "log_loss"])
    report.add_heading("Plots", level=3)
    report.add_image(png, caption="<script>alert(1)</script>")
    report.add_audio(_wav_bytes(), caption="a tone")
    report.add_details("Raw config", "<pre>lr: 0.001</pre>")
    report.add_heading("Validation")  # a repeated heading gets its own anchor
    return report


def test_report_contents(tmp_path: Path):
    path = _report(tmp_path).write(tmp_path / "run" / "report.html")
    html = path.read_text(encoding="utf-8")
    assert "<title>Run &lt;3&gt; &amp; results</title>" in html
    assert '<h2 id="validation">' in html and '<h2 id="validation-2">' in html and '<h3 id="plots">' in html
    assert html.index('href="#validation"') < html.index('id="validation"')  # the contents come first
    assert 'href="#plots"' in html and 'href="#validation-2"' in html
    encoded = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html).group(1)
    assert base64.b64decode(encoded) == _png_bytes()
    assert "data:audio/wav;base64," in html and "<audio controls" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html
    assert "<strong>gated</strong>" in html and "<code>lr=1e-3</code>" in html and "&lt;b&gt;tag" in html
    assert '<td class="num best">0.900</td>' in html and '<td class="num">0.800</td>' in html
    assert '<td class="num best">0.500</td>' in html  # the smallest log loss: lower is better
    assert '<td class="num">0.9123</td>' in html and '<td class="num">40</td>' in html  # n stays an integer
    assert "group.f1_macro" in html and "confusion_matrix" not in html and "per_class" not in html
    assert "<details><summary>Raw config</summary><pre>lr: 0.001</pre></details>" in html
    assert "http" not in html.lower()


def test_table_from_dataframe_keeps_integers_and_named_index(tmp_path: Path):
    import pandas as pd

    frame = pd.DataFrame({"support": [3, 12], "f1": [0.5, 0.25]}, index=pd.Index(["cat", "dog"], name="class"))
    html = Report("t").add_table(frame, highlight_max=["f1", "support"]).render()
    assert "<th>class</th>" in html and "<td>dog</td>" in html
    assert '<td class="num best">12</td>' in html and '<td class="num best">0.500</td>' in html
    forced = Report("t").add_table(frame, highlight_min=["f1"]).render()
    assert '<td class="num best">0.250</td>' in forced


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    report = _report(tmp_path)
    out = tmp_path / "out"
    report.write(out / "report.html")
    assert sorted(os.listdir(out)) == ["report.html"]
    before = (out / "report.html").read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    report.add_text("more")
    with pytest.raises(OSError, match="disk full"):
        report.write(out / "report.html")
    assert sorted(os.listdir(out)) == ["report.html"]  # no temp file left behind
    assert (out / "report.html").read_bytes() == before  # and the old report intact


def test_media_must_be_what_they_claim(tmp_path: Path):
    with pytest.raises(ValueError, match="WAV"):
        Report("t").add_audio(_png_bytes())
    with pytest.raises(ValueError, match="image"):
        Report("t").add_image(b"not an image")
