"""The tiny `shapes` table of the generation tests lives in tests/conftest.py (tests/runs uses it too)."""
