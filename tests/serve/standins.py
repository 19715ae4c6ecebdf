"""Objects that follow the generation contract (/work/generation-contract.md: `caption(paths, beam_size=)`,
`generate(prompts, n=, seed=)`, `to_bytes(samples)`). They stand in for the captioner and generator runs
that land on other branches, so /caption and /generate are tested through HTTP now; tests with real
runs come when those runs exist. They do real work on what they are given, so a test can check that
the uploaded bytes and the request's arguments reached them."""

from __future__ import annotations

import io
import time

import numpy as np
import soundfile as sf
import torch
from PIL import Image

from polymodal import PolymodalError


class StandInCaptioner:
    input_role = "image"

    def __init__(self) -> None:
        self.metrics_ = {"bleu4": 0.5}

    def caption(self, cells, *, beam_size: int = 3, max_len=None) -> list[str]:
        out = []
        for cell in cells:
            with Image.open(cell) as im:
                r, g, b = np.asarray(im.convert("RGB"), dtype=float).mean((0, 1))
            colour = ["red", "green", "blue"][int(np.argmax([r, g, b]))]
            out.append(f"a {colour} picture of {im.width}x{im.height} (beam {beam_size})")
        return out


class StandInGenerator:
    output_role = "image"
    sample_rate = 8000
    limit = 40

    def __init__(self, output_role: str = "image", delay: float = 0.0):
        self.output_role, self.delay = output_role, delay

    def generate(self, prompts: list[str], *, n: int = 1, seed: int = 0) -> torch.Tensor:
        for p in prompts:
            if not p.strip() or len(p) > self.limit:
                raise PolymodalError(f"prompt {p[:20]!r}... is longer than the model's limit of {self.limit}")
        time.sleep(self.delay)
        g = torch.Generator().manual_seed(seed)
        if self.output_role == "audio":
            return torch.rand(len(prompts) * n, 800, generator=g) * 2 - 1
        return torch.rand(len(prompts) * n, 3, 8, 8, generator=g)

    def to_bytes(self, samples: torch.Tensor) -> tuple[bytes, str]:
        buf = io.BytesIO()
        if self.output_role == "audio":
            sf.write(buf, samples.reshape(-1).numpy(), self.sample_rate, format="WAV")
            return buf.getvalue(), "audio/wav"
        grid = torch.cat(list(samples), dim=2)  # side by side: [3, 8, 8n]
        Image.fromarray((grid.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(buf, format="PNG")
        return buf.getvalue(), "image/png"
