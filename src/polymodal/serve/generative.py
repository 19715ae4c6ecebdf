"""/caption and /generate over runs of kind "captioner" and "generator" (see the generation contract:
`run.caption(paths, beam_size=)`, `run.generate(prompts, n=, seed=)` and `run.to_bytes(samples)`)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from .errors import bad_input
from .uploads import UploadFolder

MAX_FILES = 16
MAX_SAMPLES = 16
MAX_BEAM = 10
MAX_PROMPT_CHARS = 1000
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes a 64-bit integer: past it, an OverflowError (a 500)


async def caption(run, files: list, folder: UploadFolder, max_bytes: int, beam_size: int) -> list[str]:
    if not files:
        raise bad_input("no file given: upload one or more files in the field 'file'")
    if len(files) > MAX_FILES:
        raise bad_input(f"{len(files)} files given; at most {MAX_FILES} a request")
    if not 1 <= beam_size <= MAX_BEAM:
        raise bad_input(f"beam_size must be between 1 and {MAX_BEAM}, got {beam_size}")
    role = getattr(run, "input_role", "image")
    paths = []
    for upload in files:
        if not isinstance(upload, UploadFile):
            raise bad_input("field 'file' must hold uploaded files, not values")
        paths.append(await folder.save("file", role, upload, max_bytes))
    captions = await run_in_threadpool(lambda: run.caption(paths, beam_size=beam_size))
    return [str(c) for c in captions]


def check_generate(prompt: str, n: int, seed: int = 0) -> str:
    text = prompt.strip()
    if not text:
        raise bad_input("the prompt is empty")
    if len(text) > MAX_PROMPT_CHARS:
        raise bad_input(f"the prompt has {len(text)} characters; at most {MAX_PROMPT_CHARS}")
    if not 1 <= n <= MAX_SAMPLES:
        raise bad_input(f"n must be between 1 and {MAX_SAMPLES}, got {n}")
    if not 0 <= seed <= MAX_SEED:
        raise bad_input(f"seed must be between 0 and 2^63-1, got {seed}")
    return text


async def generate(run, prompt: str, n: int, seed: int) -> tuple[bytes, str]:
    text = check_generate(prompt, n, seed)

    def work() -> tuple[bytes, str]:
        return run.to_bytes(run.generate([text], n=n, seed=seed))

    return await run_in_threadpool(work)
