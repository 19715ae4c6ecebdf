"""Every endpoint through FastAPI's test client, including each bad input with its status and message."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from PIL import Image

import polymodal as pm
from polymodal import PolymodalError
from polymodal.serve import create_app

from .standins import StandInCaptioner, StandInGenerator

pytestmark = pytest.mark.slow  # the fixtures fit small runs

LIMIT_MB = 0.05  # 50 kB: the test files are about 1 kB, so an oversized one is cheap to make


@pytest.fixture(scope="module")
def client(predictor_run, index_folder):
    return TestClient(create_app([predictor_run, index_folder], max_upload_mb=LIMIT_MB))


def png(color=(220, 30, 30), size=(20, 20)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def wav(seconds=0.3) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(16000 * seconds)) / 16000
    sf.write(buf, (0.4 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 16000, format="WAV")
    return buf.getvalue()


# ------------------------------------------------------------------ health, info, page, spec
def test_health_info_page_and_openapi(client):
    assert client.get("/health").json() == {"status": "ok", "runs": ["colors", "photos"]}
    info = client.get("/info").json()
    runs = {r["name"]: r for r in info["runs"]}
    assert runs["colors"]["kind"] == "predictor" and runs["colors"]["endpoint"] == "/predict"
    assert {f["name"]: f["kind"] for f in runs["colors"]["fields"]} == {
        "caption": "value", "photo": "file", "sound": "file", "weight": "value"}
    assert runs["colors"]["labels"] == {"color": ["blue", "green", "red"]}
    assert runs["colors"]["schema"]["color"] == "label" and "val" in runs["colors"]["metrics"]
    assert runs["photos"]["kind"] == "index" and runs["photos"]["rows"] == 36
    assert runs["photos"]["query_roles"] == ["image", "text"]
    assert info["limits"]["max_upload_mb"] == pytest.approx(LIMIT_MB)
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "buildForm" in client.get("/static/app.js").text
    spec = client.get("/openapi.json").json()
    assert {"/predict", "/search", "/caption", "/generate", "/health", "/info"} <= set(spec["paths"])
    assert "PredictResponse" in spec["components"]["schemas"]


def test_the_document_declares_what_each_endpoint_reads_and_answers(client):
    """For the schema fuzzer (test_schema_fuzz.py) to reach and check every answer: /media's files were declared
    JSON (it flagged image/png once `run` named the index), and the form bodies any object, with no fields."""
    paths = client.get("/openapi.json").json()["paths"]
    media = paths["/media/{run}/{row}"]["get"]
    assert set(media["responses"]["200"]["content"]) == {"image/*", "audio/*", "video/*", "application/octet-stream"}
    assert media["parameters"][0]["schema"]["enum"] == ["photos"]  # `run` names the served runs of its kind
    predict = paths["/predict"]["post"]
    assert [p["schema"]["enum"] for p in predict["parameters"]] == [["colors"]]
    form = predict["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {name: f.get("format", f["type"]) for name, f in form["properties"].items()} == {
        "photo": "binary", "sound": "binary", "caption": "string", "weight": "number"}
    assert form["additionalProperties"] is False
    search = paths["/search"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert search["oneOf"] == [{"required": ["text"]}, {"required": ["image"]}, {"required": ["audio"]}]
    assert set(paths["/generate"]["post"]["responses"]["200"]["content"]) == {"image/png", "audio/wav", "image/gif"}
    for operations in paths.values():  # an open server promises no 401, 403 or 429
        assert not {"401", "403", "429"} & {code for op in operations.values() for code in op["responses"]}


# ------------------------------------------------------------------ /predict
def test_predict_equals_the_python_api(client, predictor_run, table):
    image = table.parent / "img" / "0.png"
    sound = table.parent / "snd" / "0.wav"
    r = client.post("/predict", files={"photo": ("red.png", image.read_bytes(), "image/png"),
                                       "sound": ("red.wav", sound.read_bytes(), "audio/wav")},
                    data={"caption": "a red square", "weight": "0.2"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["run"] == "colors" and body["used"] == ["caption", "photo", "sound", "weight"]
    (pred,) = body["predictions"]
    df = pd.DataFrame({"photo": [str(image)], "sound": [str(sound)], "caption": ["a red square"], "weight": [0.2]})
    expected = pm.load(predictor_run).predict_proba(df)
    assert pred["value"] == expected["color"][0]
    for cls, p in pred["probabilities"].items():
        assert p == pytest.approx(float(expected[f"proba_color_{cls}"][0]), abs=1e-5)
    assert sum(pred["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_predict_with_missing_modalities_and_a_chosen_run(client):
    r = client.post("/predict?run=colors", data={"caption": "a blue square"})
    assert r.status_code == 200, r.text
    assert r.json()["used"] == ["caption"]


BAD_PREDICT = [
    ("corrupt image", {"files": {"photo": ("x.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")}}, 422,
     "field 'photo': file 'x.png' is not a readable image"),
    ("corrupt audio", {"files": {"sound": ("x.wav", b"RIFF....WAVEfmt garbage", "audio/wav")}}, 422,
     "field 'sound': file 'x.wav' is not a readable audio"),
    ("wrong content type", {"files": {"photo": ("x.txt", b"hello", "text/plain")}}, 415,
     "field 'photo': expected an image file, got content type 'text/plain'"),
    ("audio sent as image", {"files": {"photo": ("x.wav", wav(), "audio/wav")}}, 415, "expected an image file"),
    ("empty file", {"files": {"photo": ("x.png", b"", "image/png")}}, 422, "file 'x.png' is empty"),
    ("empty text", {"data": {"caption": "   "}}, 422, "field 'caption' is empty"),
    ("not a number", {"data": {"weight": "heavy"}}, 422, "field 'weight' must be a number, got 'heavy'"),
    ("infinite number", {"data": {"weight": "inf"}}, 422, "must be a finite number"),
    ("unknown field", {"data": {"caption": "red", "colour": "x"}}, 422, "unknown field(s) 'colour'; this run takes"),
    ("no input", {"data": {}, "files": {"unused": ("", b"", "")}}, 422, "unknown field"),
    ("a server path instead of a file", {"data": {"photo": "/etc/passwd"}}, 422,
     "field 'photo' must be an uploaded image file (multipart), not a value"),
    ("text sent as a file", {"files": {"caption": ("c.txt", b"red", "text/plain")}}, 422,
     "field 'caption' takes a text value, not a file"),
    ("one field twice", {"data": {"caption": ["red", "blue"]}}, 422, "field 'caption' is given 2 times"),
]


def test_a_number_far_outside_the_training_range_gets_a_finite_answer(client):
    """Found by the schema fuzzer: weight=1.6e226 overflowed the numeric encoder's float32 layers and the answer
    was NaN probabilities. The encoder now clips inputs at 1e4 standard deviations (encoders/tabular.py)."""
    r = client.post("/predict", data={"weight": "1.6e226"})
    assert r.status_code == 200, r.text
    probabilities = r.json()["predictions"][0]["probabilities"]
    assert all(math.isfinite(v) for v in probabilities.values()) and sum(probabilities.values()) == pytest.approx(1)


def test_a_prediction_that_is_not_a_number_is_refused_not_sent_as_null():
    """The server's own guard, for whatever else could make a model compute NaN: 422 naming the numbers given."""
    from polymodal.serve.errors import ApiError
    from polymodal.serve.predict import finite
    from polymodal.serve.schemas import Prediction

    nan = [Prediction(label="color", value="red", probabilities={"red": float("nan"), "blue": float("nan")})]
    with pytest.raises(ApiError) as caught:
        finite(nan, {"weight": 1.6e226, "caption": "red"}, {"weight": "numeric", "caption": "text"})
    assert caught.value.status == 422 and "(weight=1.6e+226)" in str(caught.value)


@pytest.mark.parametrize("case,kwargs,status,message", BAD_PREDICT, ids=[c[0] for c in BAD_PREDICT])
def test_predict_rejects_bad_input(client, case, kwargs, status, message):
    r = client.post("/predict", **kwargs)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


def test_corrupt_upload_message_names_the_clients_file_not_a_server_path(client):
    r = client.post("/predict", files={"photo": ("holiday.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")})
    detail = r.json()["detail"]
    assert r.status_code == 422 and "holiday.png" in detail
    assert "polymodal-upload-" not in detail and " it:" not in detail and "'it'" not in detail


def test_predict_needs_a_form_and_some_input(client):
    r = client.post("/predict", json={"caption": "red"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["detail"]
    r = client.post("/predict", data={"caption": ""}, files={"sound": ("", b"", "")})
    assert r.status_code == 422


def test_oversized_upload_and_body(client):
    big = png(size=(400, 400)) + b"\0" * int(LIMIT_MB * 1e6)
    r = client.post("/predict", files={"photo": ("big.png", big, "image/png")})
    assert r.status_code == 413 and "larger than the limit of 0.05 MB" in r.json()["detail"]
    huge = b"x" * (3 << 20)  # past the whole-body limit (16 files + 1 MB of fields): refused before parsing
    r = client.post("/predict", content=huge, headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413 and "request body is larger" in r.json()["detail"]


def test_unknown_run_and_wrong_kind(client):
    r = client.post("/predict?run=nope", data={"caption": "red"})
    assert r.status_code == 404 and "unknown run 'nope'; served: colors, photos" in r.json()["detail"]
    r = client.post("/predict?run=photos", data={"caption": "red"})
    assert r.status_code == 400 and "run 'photos' is a index; /predict serves predictor runs" in r.json()["detail"]
    r = client.post("/search?run=colors", data={"text": "red"})
    assert r.status_code == 400 and "use /predict for it" in r.json()["detail"]
    r = client.post("/caption", files={"file": ("x.png", png(), "image/png")})
    assert r.status_code == 404 and "no captioner run is served here" in r.json()["detail"]
    r = client.post("/generate", json={"prompt": "a red square"})
    assert r.status_code == 404 and "no generator run" in r.json()["detail"]


# ------------------------------------------------------------------ /search and /media
def test_search_by_text_and_image_and_fetch_hits(client, table):
    r = client.post("/search", data={"text": "a red square", "k": "5"})
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert all("photo" not in h["fields"] for h in hits)  # server paths never leave
    media = client.get(hits[0]["media_url"])
    assert media.status_code == 200 and media.headers["content-type"] == "image/png"
    row = hits[0]["fields"]["table_row"]
    assert media.content == (table.parent / "img" / f"{row}.png").read_bytes()
    image = (table.parent / "img" / "4.png").read_bytes()
    r = client.post("/search", files={"image": ("q.png", image, "image/png")}, data={"k": "3"})
    assert r.status_code == 200, r.text
    top = r.json()["hits"][0]
    assert top["fields"]["table_row"] == 4 and top["score"] == pytest.approx(1.0, abs=1e-4)


BAD_SEARCH = [
    ("empty text", {"data": {"text": "  "}}, 422, "field 'text': the query text is empty"),
    ("two queries", {"data": {"text": "red"}, "files": {"image": ("q.png", png(), "image/png")}}, 422,
     "give exactly one query: a 'text' field, or an 'image' or 'audio' file (got text, image)"),
    ("no query", {"data": {"k": "3"}}, 422, "give exactly one query"),
    ("k out of range", {"data": {"text": "red", "k": "0"}}, 422, "k must be between 1 and 100, got 0"),
    ("k not a number", {"data": {"text": "red", "k": "ten"}}, 422, "field 'k' must be a whole number"),
    ("modality the index cannot take", {"files": {"audio": ("q.wav", wav(), "audio/wav")}}, 422,
     "index 'photos' cannot be searched by audio; it takes image, text queries"),
    ("corrupt image", {"files": {"image": ("q.png", b"garbage", "image/png")}}, 422, "is not a readable image"),
]


@pytest.mark.parametrize("case,kwargs,status,message", BAD_SEARCH, ids=[c[0] for c in BAD_SEARCH])
def test_search_rejects_bad_input(client, case, kwargs, status, message):
    r = client.post("/search", **kwargs)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


def test_media_only_serves_rows_of_an_index(client):
    assert client.get("/media/photos/36").status_code == 404
    assert "has no row 36" in client.get("/media/photos/36").json()["detail"]
    assert client.get("/media/photos/-1").status_code == 404
    assert client.get("/media/colors/0").status_code == 400
    assert client.get("/media/photos/abc").status_code == 422  # a row id is a number, never a path
    traversal = client.get("/media/photos/..%2F..%2F..%2Fetc%2Fpasswd")
    assert traversal.status_code == 404 and "root:" not in traversal.text


def test_media_of_an_unknown_kind_is_sent_as_bytes_not_text(client, tmp_path, monkeypatch):
    """The document declares image/*, audio/*, video/* or octet-stream; Starlette's own fallback is text/plain."""
    odd = tmp_path / "row.rawpixels"
    odd.write_bytes(b"\x00\x01")
    monkeypatch.setattr(client.app.state.served["photos"].obj, "media", lambda row: odd)
    r = client.get("/media/photos/0")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"


# ------------------------------------------------------------------ /caption and /generate (stand-ins)
@pytest.fixture(scope="module")
def generative_client(tmp_path_factory, predictor_run):
    """Run folders of kind captioner/generator whose `load` returns the contract's stand-ins."""
    import polymodal.runs.kinds

    root = tmp_path_factory.mktemp("generative")
    objects = {"captioner": StandInCaptioner(), "painter": StandInGenerator("image"),
               "singer": StandInGenerator("audio"), "slow": StandInGenerator("image", delay=3.0)}
    for name in objects:
        (root / name).mkdir()
        kind = "captioner" if name == "captioner" else "generator"
        (root / name / "polymodal.json").write_text(json.dumps({"format": 1, "kind": kind}))
        (root / name / "weights.safetensors").write_bytes(b"")
    real = polymodal.runs.kinds.load
    patch = pytest.MonkeyPatch()
    patch.setattr(polymodal.runs.kinds, "load", lambda path: objects.get(path.name) or real(path))
    app = create_app([root / n for n in objects] + [predictor_run], timeout_s=1.0, max_upload_mb=LIMIT_MB)
    patch.undo()
    return TestClient(app)


def test_caption_reads_the_uploaded_files(generative_client):
    r = generative_client.post("/caption", data={"beam_size": "2"},
                               files=[("file", ("a.png", png((200, 10, 10)), "image/png")),
                                      ("file", ("b.png", png((10, 10, 200), (30, 12)), "image/png"))])
    assert r.status_code == 200, r.text
    assert r.json() == {"run": "captioner", "captions": ["a red picture of 20x20 (beam 2)",
                                                         "a blue picture of 30x12 (beam 2)"]}


BAD_CAPTION = [
    ("no file", {"data": {"beam_size": "3"}}, 422, "no file given"),
    ("corrupt image", {"files": {"file": ("a.png", b"nope", "image/png")}}, 422, "is not a readable image"),
    ("wrong type", {"files": {"file": ("a.txt", b"nope", "text/plain")}}, 415, "expected an image file"),
    ("beam out of range", {"files": {"file": ("a.png", png(), "image/png")}, "data": {"beam_size": "0"}}, 422,
     "beam_size must be between 1 and 10"),
]


@pytest.mark.parametrize("case,kwargs,status,message", BAD_CAPTION, ids=[c[0] for c in BAD_CAPTION])
def test_caption_rejects_bad_input(generative_client, case, kwargs, status, message):
    r = generative_client.post("/caption", **kwargs)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


def test_generate_returns_png_and_wav(generative_client):
    r = generative_client.post("/generate?run=painter", json={"prompt": "a red square", "n": 3, "seed": 1})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(r.content)).size == (24, 8)  # three 8x8 samples side by side
    again = generative_client.post("/generate?run=painter", json={"prompt": "a red square", "n": 3, "seed": 1})
    assert again.content == r.content
    r = generative_client.post("/generate?run=singer", json={"prompt": "a beep", "n": 2})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    wave, rate = sf.read(io.BytesIO(r.content))
    assert rate == 8000 and len(wave) == 1600


BAD_GENERATE = [
    ("empty prompt", "painter", {"prompt": "  "}, 422, "the prompt is empty"),
    ("prompt over the model's limit", "painter", {"prompt": "x" * 60}, 422, "longer than the model's limit of 40"),
    ("n out of range", "painter", {"prompt": "red", "n": 0}, 422, "n must be between 1 and 16, got 0"),
    ("n not a number", "painter", {"prompt": "red", "n": "many"}, 422, "n: Input should be a valid integer"),
    ("no prompt", "painter", {"n": 2}, 422, "prompt: Field required"),
    ("a captioner", "captioner", {"prompt": "red"}, 400, "run 'captioner' is a captioner; /generate serves"),
    ("a predictor", "colors", {"prompt": "red"}, 400, "run 'colors' is a predictor"),
    ("over the time limit", "slow", {"prompt": "red"}, 504, "took longer than the limit of 1 s"),
    # found by the schema fuzzer: torch's manual_seed takes 64 bits, and a larger seed was a 500
    ("seed past 64 bits", "painter", {"prompt": "red", "seed": -(2**63) - 1}, 422,
     "seed must be between 0 and 2^63-1, got -9223372036854775809"),
    ("negative seed", "painter", {"prompt": "red", "seed": -1}, 422, "seed must be between 0 and 2^63-1"),
]


@pytest.mark.parametrize("case,run,body,status,message", BAD_GENERATE, ids=[c[0] for c in BAD_GENERATE])
def test_generate_rejects_bad_input(generative_client, case, run, body, status, message):
    r = generative_client.post(f"/generate?run={run}", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


def test_several_runs_of_a_kind_need_a_name(generative_client):
    r = generative_client.post("/generate", json={"prompt": "red"})
    assert r.status_code == 422 and "several generator runs are served; choose one with ?run=NAME" in r.text


# ------------------------------------------------------------------ serving set-up
def test_targets_that_cannot_be_served(tmp_path, index_folder):
    with pytest.raises(PolymodalError, match="no such run directory"):
        create_app([tmp_path / "missing"])
    with pytest.raises(PolymodalError, match="not a run directory"):
        create_app([tmp_path])
    align = index_folder.parent / "align"
    with pytest.raises(PolymodalError, match="polymodal index build"):
        create_app([align])


def test_same_folder_names_get_distinct_run_names(predictor_run, tmp_path):
    import shutil

    other = tmp_path / predictor_run.name
    shutil.copytree(predictor_run, other)
    client = TestClient(create_app([predictor_run, other]))
    assert client.get("/health").json()["runs"] == ["colors", "colors-2"]


def test_serve_binds_loopback_by_default():
    from polymodal.cli import build_parser
    from polymodal.serve.server import is_loopback

    args = build_parser().parse_args(["serve", "runs/x"])
    assert args.host == "127.0.0.1" and is_loopback(args.host) and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")


def test_onnx_runtime_serves_the_same_answers(tensor_run, table):
    files = {"photo": ("p.png", (table.parent / "img" / "2.png").read_bytes(), "image/png")}
    answers = {}
    for runtime in ("torch", "onnx"):
        client = TestClient(create_app([tensor_run], runtime=runtime))
        r = client.post("/predict", files=files, data={"weight": "1.5"})
        assert r.status_code == 200, r.text
        assert r.json()["runtime"] == runtime
        answers[runtime] = r.json()["predictions"][0]["probabilities"]
    for cls, p in answers["torch"].items():
        assert answers["onnx"][cls] == pytest.approx(p, abs=1e-5)
