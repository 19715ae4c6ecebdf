"""The served app fuzzed against its own OpenAPI document (schemathesis, in-process through ASGI).

Every operation the document lists gets its examples, the boundary values of its parameters and fields
(schemathesis' coverage phase), then generated requests, valid and invalid. Each answer must be declared:
a status code the operation lists, with the content type, body and headers the document gives it, and
never a 500. The API open; with keys, with a key and without; and over its rate limit.

Deterministic (derandomized, a fixed seed: the same requests every run) and bounded: the file takes about
10-15 s on 2 cores once the shared runs are fitted. A longer campaign, with other requests each time:
    POLYMODAL_FUZZ_EXAMPLES=300 POLYMODAL_FUZZ_SEED=random pytest tests/serve/test_schema_fuzz.py
"""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import polymodal.runs.kinds
from polymodal.serve import create_app

from .standins import StandInCaptioner, StandInGenerator

pytestmark = pytest.mark.slow  # the fixtures fit small runs

KEY = "fuzz-key-of-twenty-chars"
OPERATIONS = ["GET /health", "GET /info", "POST /predict", "POST /search", "GET /media/{run}/{row}",
              "POST /caption", "POST /generate"]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
EXAMPLES = int(os.environ.get("POLYMODAL_FUZZ_EXAMPLES", "12"))
SEED = os.environ.get("POLYMODAL_FUZZ_SEED", "20")


@pytest.fixture(scope="module")
def targets(tmp_path_factory, predictor_run, index_folder):
    """A predictor, an index, a captioner and a generator: a run of every kind, so every endpoint answers."""
    root = tmp_path_factory.mktemp("fuzz-runs")
    stand_ins = {"captioner": StandInCaptioner(), "painter": StandInGenerator("image")}
    for name in stand_ins:
        (root / name).mkdir()
        kind = "captioner" if name == "captioner" else "generator"
        (root / name / "polymodal.json").write_text(json.dumps({"format": 1, "kind": kind}))
        (root / name / "weights.safetensors").write_bytes(b"")
    return [predictor_run, index_folder, *(root / n for n in stand_ins)], stand_ins


def serve(targets, **options):
    paths, stand_ins = targets
    real = polymodal.runs.kinds.load
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(polymodal.runs.kinds, "load", lambda path: stand_ins.get(path.name) or real(path))
        return create_app(paths, max_upload_mb=0.05, **options)


def document(app, key: str | None = None, security_headers: bool = True) -> schemathesis.BaseSchema:
    """The app's document; `security_headers`: also send made-up credentials (none, blank, wrong)."""
    generation = {"mode": "all", "max-examples": EXAMPLES, "deterministic": SEED != "random", "database": "none",
                  "with-security-parameters": security_headers}
    config = {"generation": generation, "phases": {"stateful": {"enabled": False}}}
    if SEED != "random":
        config["seed"] = int(SEED)
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=schemathesis.Config.from_dict(config),
                                          headers={"X-API-Key": key} if key else {})


@pytest.fixture(scope="module")
def keyed_app(targets):
    return serve(targets, api_keys=(KEY,), rate_limit="100000/minute")


def fuzz(schema, operation: str, key: str | None = None, statuses: tuple[int, ...] = ()) -> None:
    """Examples, coverage cases and generated cases of one operation, built from the schema's config as
    `schemathesis run` builds them; each one sent in-process and its answer checked. (Built here, one pytest
    test per operation, because schemathesis' own fixture loader, `pytest.from_fixture`, fails on pytest 9.)"""
    method, path = operation.split(" ")
    found, config = schema[path][method], schema.config

    def check(case):
        response = case.call_and_validate(headers={"X-API-Key": key} if key else None, checks=CHECKS)
        if statuses and case.method == method:  # not the coverage phase's other methods (405, or OPTIONS)
            assert response.status_code in statuses, (case.as_curl_command(), response.status_code)

    create_test(operation=found, test_func=check, config=HypothesisTestConfig(
        project=config, modes=list(HypothesisTestMode), seed=config.seed,
        settings=config.get_hypothesis_settings(operation=found, phase="fuzzing")))()


@pytest.fixture(scope="module")
def open_schema(targets):
    return document(serve(targets))


@pytest.fixture(scope="module")
def throttled_schema(targets):
    """Its one request an hour goes to fetching the document."""
    return document(serve(targets, rate_limit="1/hour"), security_headers=False)


def test_the_document_lists_every_endpoint(open_schema, keyed_app):
    for schema in (open_schema, document(keyed_app, KEY)):
        assert {op.ok().label for op in schema.get_all_operations()} == set(OPERATIONS)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_open_api(open_schema, operation):
    fuzz(open_schema, operation)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_keyed_api_with_a_key(keyed_app, operation):
    fuzz(document(keyed_app, KEY, security_headers=False), operation, KEY)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_keyed_api_without_a_key(keyed_app, operation):
    """No key, a blank one or a made-up one, whatever else the request holds: 401 or 403; /health stays open."""
    statuses = (200, 401, 403) if operation == "GET /health" else (401, 403)
    fuzz(document(keyed_app, KEY), operation, statuses=statuses)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_api_over_its_rate_limit(throttled_schema, operation):
    """Every request but the health check is a 429, as declared (with Retry-After)."""
    fuzz(throttled_schema, operation, statuses=() if operation == "GET /health" else (429,))
