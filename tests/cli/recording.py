"""What the CLI tests import besides fixtures."""


class Captured(Exception):
    """Raised by the recording fit (conftest.py's `captured`): the command stops where the job would start."""
