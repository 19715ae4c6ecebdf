"""Typed response bodies: they give the OpenAPI spec (/docs, /openapi.json) its schemas."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    detail: str = Field(description="what was wrong, naming the field, file or run")


class Field_(BaseModel):
    name: str
    role: str = Field(description="image, audio, video, text, numeric or categorical")
    kind: str = Field(description="'file' (multipart upload) or 'value' (a form field)")


class RunInfo(BaseModel):
    name: str
    kind: str = Field(description="predictor, index, captioner or generator")
    path: str
    endpoint: str = Field(description="the endpoint that serves it")
    runtime: str = Field(default="torch", description="torch or onnx (predictors)")
    fields: list[Field_] = Field(default_factory=list, description="inputs /predict accepts (predictors)")
    labels: dict[str, list[str]] = Field(default_factory=dict, description="classes per label column")
    query_roles: list[str] = Field(default_factory=list, description="query modalities /search accepts (indexes)")
    rows: int | None = Field(default=None, description="vectors in the index")
    schema_: dict[str, str] = Field(default_factory=dict, alias="schema", description="column -> role")
    metrics: dict[str, Any] = Field(default_factory=dict, description="the run's model card: its metrics")
    model_config = {"populate_by_name": True}


class InfoResponse(BaseModel):
    version: str
    runs: list[RunInfo]
    limits: dict[str, float]


class HealthResponse(BaseModel):
    status: str
    runs: list[str]


class Prediction(BaseModel):
    label: str = Field(description="the label column")
    value: Any = Field(description="the predicted class (or value, for regression)")
    probabilities: dict[str, float] = Field(default_factory=dict, description="class -> probability")


class PredictResponse(BaseModel):
    run: str
    predictions: list[Prediction]
    used: list[str] = Field(description="the inputs that were present; the others counted as missing")
    runtime: str


class Hit(BaseModel):
    rank: int
    score: float
    row: int = Field(description="row id in the index; GET /media/{run}/{row} returns its file")
    media_url: str | None = None
    fields: dict[str, Any] = Field(description="the row's text and label columns")


class SearchResponse(BaseModel):
    run: str
    query: str = Field(description="text, image or audio")
    hits: list[Hit]


class CaptionResponse(BaseModel):
    run: str
    captions: list[str]
