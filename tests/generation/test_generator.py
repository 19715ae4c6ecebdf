"""The Generator facade on a tiny shapes table: fit each task a few steps, generate, write valid
files, save/load identically, and refuse bad input clearly."""

import io
import wave

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from PIL import Image, ImageSequence

import polymodal as pm
from polymodal.errors import PolymodalError, TableError, ValidationError

TINY = {"image_size": 16, "width": 8, "z_dim": 8, "cond_dim": 16, "batch_size": 16, "epochs": 3,
        "text_encoder": "gru", "evaluate_after_fit": False, "progress": False}
TASKS = {"text-to-image": ("caption", "image"), "text-to-audio": ("caption", "audio"),
         "text-to-video": ("video_caption", "video")}
PROMPTS = ["a small red circle on the left", "a large blue square on the right"]


def tiny(task, model, **kw):
    prompt, target = TASKS[task]
    options = {**TINY, "n_mels": 16, "audio_frames": 16, "frames": 4, "prompt": prompt, "target": target} | kw
    return pm.Generator(task, model=model, **options)


@pytest.fixture(scope="module")
def fitted(tiny_shapes, tmp_path_factory):
    """One fitted run per task (cgan for images, cvae for audio and video), saved."""
    runs = {}
    for task, model in (("text-to-image", "cgan"), ("text-to-audio", "cvae"), ("text-to-video", "cvae")):
        out = tmp_path_factory.mktemp("gen-runs") / task
        runs[task] = (tiny(task, model).fit(tiny_shapes, out=out), out)
    return runs


@pytest.mark.parametrize("task", sorted(TASKS))
def test_fit_writes_a_run_and_the_loss_moves(fitted, task):
    g, out = fitted[task]
    losses = [h["loss"] for h in g.history_]
    assert len(losses) == 3 and np.isfinite(losses).all()
    assert losses[0] != losses[-1]
    for name in ("polymodal.json", "generator.json", "weights.safetensors", "metrics.json", "report.html"):
        assert (out / name).exists(), name
    assert len(list((out / "samples").iterdir())) == 3  # one grid per epoch
    assert not (out / "checkpoint").exists()


def test_generate_shapes_ranges_and_files(fitted, tmp_path):
    image, _ = fitted["text-to-image"]
    x = image.generate(PROMPTS, n=3, seed=0)
    assert x.shape == (6, 3, 16, 16) and x.min() >= 0 and x.max() <= 1
    png = Image.open(image.write(x, tmp_path / "grid.png", columns=3))
    assert png.format == "PNG" and png.size == (3 * 16 + 2 * 2, 2 * 16 + 2)

    audio, _ = fitted["text-to-audio"]
    w = audio.generate(PROMPTS, n=2, seed=0)
    assert w.shape == (4, audio.medium_.samples) and w.abs().max() <= 1 and audio.sample_rate == 16000
    data, media_type = audio.to_bytes(w)
    assert media_type == "audio/wav"
    back, rate = sf.read(io.BytesIO(data))
    assert rate == 16000 and len(back) == 4 * w.shape[1] + 3 * int(0.25 * 16000)
    with wave.open(str(audio.write(w, tmp_path / "out.wav"))) as f:
        assert f.getnframes() == len(back)

    video, _ = fitted["text-to-video"]
    v = video.generate(PROMPTS, n=2, seed=0)
    assert v.shape == (4, 4, 3, 16, 16) and v.min() >= 0 and v.max() <= 1
    gif = Image.open(video.write(v, tmp_path / "clips.gif"))
    assert gif.format == "GIF" and gif.n_frames >= 2
    assert len(list(ImageSequence.Iterator(gif))) == gif.n_frames


@pytest.mark.parametrize("task", sorted(TASKS))
def test_save_load_gives_identical_samples_for_the_same_seed(fitted, task):
    g, out = fitted[task]
    back = pm.load(out)
    assert isinstance(back, pm.Generator) and back.output_role == g.output_role
    assert torch.equal(g.generate(PROMPTS, n=2, seed=5), back.generate(PROMPTS, n=2, seed=5))
    assert not torch.equal(back.generate(PROMPTS, n=1, seed=5), back.generate(PROMPTS, n=1, seed=6))


def test_every_model_fits_on_images_with_minilm_prompts(tiny_shapes):
    for model in ("cgan", "cvae", "unconditional"):
        g = tiny("text-to-image", model, text_encoder="minilm", epochs=2).fit(tiny_shapes)
        assert g.history_[0]["loss"] != g.history_[1]["loss"], model
        assert g.generate(PROMPTS, n=1).shape == (2, 3, 16, 16)
    with pytest.raises(PolymodalError, match="longer than this model's limit of 128"):
        g.generate(["a red circle " * 60])


def test_reports_show_epoch_grids_and_playable_media(fitted):
    for task, needle in (("text-to-image", "data:image/png"), ("text-to-audio", "<audio controls"),
                         ("text-to-video", "data:image/gif")):
        _, out = fitted[task]
        html = (out / "report.html").read_text()
        assert "epoch 2" in html and needle in html, task
        assert "Generated samples" in html


def test_generation_section_for_any_report(fitted, tmp_path):
    from polymodal.generation.report import add_generation_section
    from polymodal.report.html import Report

    report = Report("demo")
    for task in sorted(TASKS):
        add_generation_section(report, fitted[task][0], PROMPTS, n=2, heading=task)
    html = report.write(tmp_path / "r.html").read_text()
    assert html.count("<audio controls") == 2 and html.count("data:image/gif") == 2
    assert html.count("data:image/png") >= 2 and PROMPTS[1] in html


def test_default_length_is_a_number_of_batches_whatever_the_table_size():
    vae, gan = pm.Generator(model="cvae", batch_size=64), pm.Generator(model="cgan", batch_size=64)
    assert vae._epochs(1400) == 191 and vae._epochs(2800) == 94 and vae._epochs(10) == 4000  # 21, 43, 1 batches
    assert gan._epochs(1400) == 286 and pm.Generator(epochs=7)._epochs(1400) == 7


@pytest.mark.slow
def test_image_evaluation_has_frechet_at_the_floors_sample_size_and_r_precision(fitted, tiny_shapes):
    g, _ = fitted["text-to-image"]
    m = g.evaluate(tiny_shapes, attributes=[], features=True)
    n = m["eval_rows"]
    assert n >= 4 and m["frechet_samples"] == n // 2
    for key in ("frechet_efficientnet_lite0", "frechet_efficientnet_lite0_real_halves",
                "frechet_efficientnet_lite0_all_rows"):
        assert np.isfinite(m[key]) and m[key] >= 0, key
    # a 3-epoch, 16 px generator is far from real images; real halves are not
    assert m["frechet_efficientnet_lite0"] > m["frechet_efficientnet_lite0_real_halves"]
    assert 0 <= m["r_precision"] <= 1 and m["r_precision_chance"] == pytest.approx(1 / m["r_precision_candidates"])


def test_bad_prompts_are_clear_errors(fitted):
    g, _ = fitted["text-to-image"]
    with pytest.raises(PolymodalError, match="prompt 1: empty"):
        g.generate(["a red circle", "   "])
    with pytest.raises(PolymodalError, match="longer than this model's limit of 64"):
        g.generate(["red " * 100])
    with pytest.raises(PolymodalError, match="list of strings"):
        g.generate("a red circle")
    with pytest.raises(PolymodalError, match="at least 1"):
        g.generate(PROMPTS, n=0)
    with pytest.raises(PolymodalError, match=r"writes \.png files"):
        g.write(g.generate(PROMPTS), "out.wav")


def test_bad_requests_and_tables_are_clear_errors(tiny_shapes, tmp_path):
    with pytest.raises(PolymodalError, match="unknown generative model 'diffusion'"):
        pm.Generator(model="diffusion")
    with pytest.raises(PolymodalError, match="unknown generation task"):
        pm.Generator("text-to-smell")
    with pytest.raises(PolymodalError, match="image_size must be one of"):
        pm.Generator(image_size=30)
    with pytest.raises(PolymodalError, match=r"epochs=0 \(an integer >= 1\)"):
        pm.Generator(epochs=0)
    with pytest.raises(TableError, match="no column"):
        tiny("text-to-image", "cvae", prompt="title").fit(tiny_shapes)
    df = pd.read_parquet(tiny_shapes)
    df["image"] = [str(tiny_shapes.parent / p) for p in df["image"]]
    df.loc[2, "caption"] = ""
    df.loc[4, "image"] = str(tmp_path / "missing.png")
    with pytest.raises(ValidationError, match=r"(?s)row 2, column 'caption'.*row 4, column 'image'"):
        tiny("text-to-image", "cvae").fit(df)
    with pytest.raises(PolymodalError, match="not fitted"):
        pm.Generator().generate(PROMPTS)


def test_served_generate_endpoint_returns_the_runs_own_media(fitted):
    """/generate over real generator runs (the serve tests use stand-ins for the contract): the same bytes as
    the Python API for the same prompt, n and seed; a valid PNG, WAV and GIF; the model's limits as 422."""
    from fastapi.testclient import TestClient

    from polymodal.serve.app import create_app

    runs = {task: out for task, (_, out) in fitted.items()}
    body = {"prompt": PROMPTS[0], "n": 3, "seed": 4}
    with TestClient(create_app(list(runs.values()), warm_up=False)) as client:
        got = {task: client.post(f"/generate?run={out.name}", json=body) for task, out in runs.items()}
        too_long = client.post(f"/generate?run={runs['text-to-image'].name}", json={"prompt": "red " * 100})
    for task, r in got.items():
        assert r.status_code == 200, (task, r.text)
        g = fitted[task][0]
        data, media_type = g.to_bytes(g.generate([PROMPTS[0]], n=3, seed=4))
        assert r.headers["content-type"] == media_type, task
        if media_type == "audio/wav":  # Griffin-Lim's float sums may round one 16-bit step apart across threads
            served, api = sf.read(io.BytesIO(r.content))[0], sf.read(io.BytesIO(data))[0]
            assert served.shape == api.shape and np.abs(served - api).max() <= 2 / 32768, task
        else:
            assert r.content == data, task
    png = Image.open(io.BytesIO(got["text-to-image"].content))
    assert png.format == "PNG" and png.size == (2 * 16 + 2, 2 * 16 + 2)  # 3 samples on a 2x2 grid
    samples, rate = sf.read(io.BytesIO(got["text-to-audio"].content))
    assert rate == 16000 and len(samples) == 3 * fitted["text-to-audio"][0].medium_.samples + 2 * int(0.25 * rate)
    assert np.abs(samples).max() > 0
    assert Image.open(io.BytesIO(got["text-to-video"].content)).format == "GIF"
    assert too_long.status_code == 422 and "longer than this model's limit of 64" in too_long.json()["detail"]
