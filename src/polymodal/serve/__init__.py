"""Serving runs over HTTP (FastAPI + uvicorn) with a web page; see app.py for the endpoints."""

from .app import create_app
from .server import serve

__all__ = ["create_app", "serve"]
