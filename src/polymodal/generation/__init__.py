"""Text-to-image, text-to-audio and text-to-video: conditional GANs and VAEs trained on a table.

`Generator` is the facade (generator.py); models are registered by name in base.py (`cgan`,
`cvae`, `unconditional`); media.py maps files to training tensors and back; evaluation.py
scores generated samples objectively.
"""

from __future__ import annotations

from .generator import TASKS, Generator

__all__ = ["TASKS", "Generator"]
