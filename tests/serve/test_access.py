"""Who may call the server: API keys (401 / 403), the per-client rate limit (429 + Retry-After), the CORS
policy, and the refusal to listen beyond loopback without a key."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

import polymodal.runs.kinds
from polymodal import PolymodalError
from polymodal.cli import main
from polymodal.serve import create_app
from polymodal.serve.access import key_matches, keys_from
from polymodal.serve.server import check_exposure

from .standins import StandInGenerator

KEY, OTHER = "k" * 20, "another-key-of-20-chars"


@pytest.fixture
def painter(tmp_path, monkeypatch):
    """A generator run folder whose `load` gives a stand-in (no model to fit: these tests are about access)."""
    run = tmp_path / "painter"
    run.mkdir()
    (run / "polymodal.json").write_text(json.dumps({"format": 1, "kind": "generator"}))
    (run / "weights.safetensors").write_bytes(b"")
    real = polymodal.runs.kinds.load
    monkeypatch.setattr(polymodal.runs.kinds, "load", lambda path: StandInGenerator("image") if path == run
                        else real(path))
    return run


def generate(client, **headers):
    return client.post("/generate", json={"prompt": "a red circle"}, headers=headers)


def test_keys_guard_every_endpoint_but_health_and_the_page_shell(painter):
    client = TestClient(create_app([painter], api_keys=(KEY, OTHER)))
    assert client.get("/health").status_code == 200
    assert client.get("/").status_code == 200 and client.get("/static/app.js").status_code == 200
    for path in ("/info", "/openapi.json", "/media/painter/0"):
        r = client.get(path)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer"), path
        assert "an API key is required" in r.json()["detail"]
    missing = generate(client)
    assert missing.status_code == 401
    wrong = generate(client, authorization="Bearer " + "x" * 20)
    assert wrong.status_code == 403 and wrong.json() == {"detail": "the API key is not valid"}
    assert generate(client, **{"x-api-key": KEY[:-1]}).status_code == 403  # a prefix of a key is not a key
    for headers in ({"authorization": f"Bearer {KEY}"}, {"x-api-key": OTHER}, {"cookie": f"polymodal_key={KEY}"}):
        r = generate(client, **headers)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png", headers
    assert client.get("/info", headers={"x-api-key": KEY}).json()["runs"][0]["name"] == "painter"


def test_a_blank_credential_hides_no_key_sent_another_way(painter):
    """Found through the schema fuzzer: `Authorization: Bearer ` (empty) beside a good X-API-Key was a 401."""
    client = TestClient(create_app([painter], api_keys=(KEY,)))
    assert generate(client, authorization="Bearer ", **{"x-api-key": KEY}).status_code == 200
    assert generate(client, **{"x-api-key": " ", "cookie": f"polymodal_key={KEY}"}).status_code == 200
    assert generate(client, authorization="Bearer  ", **{"x-api-key": ""}).status_code == 401
    assert generate(client, authorization="Bearer " + OTHER, **{"x-api-key": KEY}).status_code == 403


def test_the_document_declares_the_access_answers(painter):
    spec = TestClient(create_app([painter], api_keys=(KEY,), rate_limit="3/minute")).get(
        "/openapi.json", headers={"x-api-key": KEY}).json()
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert spec["security"] == [{"bearer": []}, {"apiKey": []}]
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            answers = operation["responses"]
            if path == "/health":
                assert operation["security"] == [] and not {"401", "403", "429"} & set(answers)
            else:
                assert {"401", "403", "429"} <= set(answers), path
                assert set(answers["401"]["headers"]) == {"WWW-Authenticate"}
                assert answers["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}


def test_without_keys_the_api_is_open_as_before(painter):
    client = TestClient(create_app([painter]))
    assert generate(client).status_code == 200 and client.get("/info").status_code == 200


def test_key_comparison_and_configuration():
    assert key_matches(KEY, (OTHER, KEY)) and not key_matches(KEY + "x", (OTHER, KEY)) and not key_matches("", (KEY,))
    assert keys_from([KEY], {"POLYMODAL_API_KEY": f"{OTHER}, {KEY}"}) == (KEY, OTHER)  # the env adds, duplicates once
    assert keys_from(None, {}) == ()
    with pytest.raises(PolymodalError, match="at least 16 characters"):
        keys_from(["short"], {})


def test_the_rate_limit_answers_429_with_retry_after_per_client(painter):
    app = create_app([painter], rate_limit="3/minute")
    client = TestClient(app)
    assert [generate(client).status_code for _ in range(3)] == [200, 200, 200]
    over = generate(client)
    assert over.status_code == 429 and "the limit is 3 per 1 minute" in over.json()["detail"]
    assert 1 <= int(over.headers["retry-after"]) <= 60
    assert client.get("/info").status_code == 429  # every endpoint counts for the same client
    assert client.get("/health").status_code == 200  # a health check is never throttled
    other = TestClient(app, client=("10.0.0.2", 5000))
    assert generate(other).status_code == 200  # another address has its own window


def test_the_rate_limit_counts_before_the_key_check(painter):
    """Guessing keys is throttled too: wrong keys use up the client's window."""
    client = TestClient(create_app([painter], api_keys=(KEY,), rate_limit="2/minute"))
    assert [generate(client, **{"x-api-key": "y" * 20}).status_code for _ in range(2)] == [403, 403]
    assert generate(client, **{"x-api-key": KEY}).status_code == 429


def test_a_bad_rate_limit_is_named_before_anything_loads(tmp_path):
    with pytest.raises(PolymodalError, match="rate limit 'often': write it as N/second"):
        create_app([tmp_path / "no-such-run"], rate_limit="often")


def test_cors_is_off_unless_an_origin_is_allowed(painter):
    origin = {"origin": "https://app.example.com"}
    closed = TestClient(create_app([painter]))
    assert "access-control-allow-origin" not in closed.get("/health", headers=origin).headers
    client = TestClient(create_app([painter], api_keys=(KEY,), cors_origins=("https://app.example.com",)))
    preflight = client.options("/generate", headers={**origin, "access-control-request-method": "POST",
                                                     "access-control-request-headers": "x-api-key"})
    assert preflight.status_code == 200  # answered before the key check: a preflight carries no key
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
    r = client.post("/generate", json={"prompt": "a red circle"}, headers={**origin, "x-api-key": KEY})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example.com"
    stranger = client.get("/health", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in stranger.headers


def test_serving_beyond_loopback_needs_a_key_or_an_explicit_risk(monkeypatch, painter, capsys):
    check_exposure("127.0.0.1", (), False)
    check_exposure("::1", (), False)
    check_exposure("0.0.0.0", (KEY,), False)
    with pytest.raises(PolymodalError, match=r"--api-key KEY .* or --insecure-no-auth"):
        check_exposure("0.0.0.0", (), False)
    with pytest.warns(UserWarning, match="without an API key"):
        check_exposure("192.168.1.5", (), True)
    started = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: started.append((app, kw)))
    monkeypatch.delenv("POLYMODAL_API_KEY", raising=False)
    assert main(["serve", str(painter), "--host", "0.0.0.0"]) == 2
    assert "refusing to serve on 0.0.0.0 without an API key" in capsys.readouterr().err and not started
    monkeypatch.setenv("POLYMODAL_API_KEY", KEY)
    assert main(["serve", str(painter), "--host", "0.0.0.0", "--rate-limit", "30/minute",
                 "--cors-origin", "https://app.example.com"]) == 0
    app, kw = started[0]
    assert kw["host"] == "0.0.0.0" and app.state.access == {
        "api_keys": 1, "rate_limit": "30/minute", "cors_origins": ["https://app.example.com"]}
    assert TestClient(app).get("/info").status_code == 401


def test_upload_folders_of_a_killed_server_are_removed_and_live_ones_kept(tmp_path, monkeypatch):
    import subprocess
    import sys
    import tempfile

    from polymodal.serve.uploads import PREFIX, UploadFolder, remove_orphans

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f"{PREFIX}{int(dead.stdout)}-abc"  # that process has ended: as a killed server's
    (orphan / "x").mkdir(parents=True)
    with UploadFolder() as live:
        assert remove_orphans() == 1
        assert not orphan.exists() and live.path.exists()
