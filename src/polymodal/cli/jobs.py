"""What the fit-like commands (`fit` for every task, `align`) share.

A flag left out is not passed: the job's constructor default applies, so the command line never
disagrees with Python, and help texts read those defaults from the signature. `--config FILE` gives
constructor parameters, the keys of a run's fit_args.json (so a run's own file reproduces it); flags
given on the command line win over the file. Checked here, once: the job gets plain arguments.
"""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path

import yaml

from ..errors import PolymodalError
from .common import ROLE_FLAGS, console, overrides

RUN_DESTS = ("command", "func", "table", "config", "out", "resume", "overwrite", "tensorboard", "task")
SCHEMA_DESTS = (*ROLE_FLAGS, "schema")  # folded into the `overrides` parameter
TRAINING = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "seed": "seed",
            "on_error": "on_error"}  # flag dest -> parameter, the same in every job
HOW = {"predictor": "fit --task auto|classification|multilabel|regression", "captioner": "fit --task caption",
       "generator": "fit --task text-to-image|text-to-audio|text-to-video", "aligner": "align"}


def parameters(kind: str) -> dict[str, inspect.Parameter]:
    """The job's constructor parameters that a run records (fit_args.json), by name."""
    from ..runs.kinds import job_class  # imports torch: only once a job is wanted, never for --help of others

    cls = job_class(kind)
    return {n: p for n, p in inspect.signature(cls.__init__).parameters.items()
            if n != "self" and n not in cls.RUNTIME}


# ------------------------------------------------------------------ flags and help
def add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", metavar="RUN", help="run folder (default: a new runs/KIND-YYYYMMDD-HHMMSS)")
    p.add_argument("--overwrite", action="store_true", help="replace the finished run in --out")
    p.add_argument("--resume", action="store_true", help="continue the interrupted fit in --out (same arguments)")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs (RUN/tensorboard; "
                   "pip install polymodal[tensorboard])")
    p.add_argument("--config", metavar="FILE", help="YAML or JSON of the job's parameters, e.g. a run's "
                   "fit_args.json to reproduce it; flags given win over it")


def show_default(action: argparse.Action, none: str = "the model's own", **kinds: str) -> None:
    """Have help show the default of parameter `kinds[kind]` of each job kind, read from its signature."""
    action.job_params, action.none_text = tuple(kinds.items()), none


class SignatureDefaults(argparse.HelpFormatter):
    """Help texts ending with the jobs' own defaults (read when help is asked for: it imports the jobs)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        pairs = getattr(action, "job_params", ())
        if not pairs:
            return action.help
        shown = {kind: parameters(kind)[name].default for kind, name in pairs}
        text = {kind: action.none_text if v is None else str(v) for kind, v in shown.items()}
        same = len(set(text.values())) == 1
        listed = next(iter(text.values())) if same else ", ".join(f"{k} {v}" for k, v in text.items())
        return f"{action.help or ''} (default: {listed})".replace("%", "%%")


# -------------------------------------------------------------------- parameters
class _Loader(yaml.SafeLoader):
    """YAML that reads 1e-4 as a number, as JSON does (PyYAML's YAML 1.1 wants 1.0e-4)."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
                              list("-+0123456789."))


def read_config(path: str) -> dict:
    try:
        data = yaml.load(Path(path).read_text(), Loader=_Loader)
    except OSError as exc:
        raise PolymodalError(f"--config {path}: cannot read it ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise PolymodalError(f"--config {path}: neither YAML nor JSON ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise PolymodalError(f"--config {path}: expected `parameter: value` lines, as in a run's fit_args.json")
    return data


def check_config(kind: str, config: dict, path: str) -> dict:
    valid = list(parameters(kind))
    unknown = [k for k in config if k not in valid]
    if unknown:
        others = [k for k in HOW if k != kind and set(config) <= set(parameters(k))]
        hint = f" (they are a {others[0]}'s: use polymodal {HOW[others[0]]})" if others else ""
        raise PolymodalError(f"--config {path}: a {kind} has no parameter(s) {', '.join(unknown)}{hint}; "
                             f"valid: {', '.join(valid)}")
    return config


def given_flags(args: argparse.Namespace) -> dict:
    """The job flags given on the command line, dest -> value; column roles folded into `overrides`."""
    given = {k: v for k, v in vars(args).items() if v is not None and k not in (*RUN_DESTS, *SCHEMA_DESTS)}
    if any(getattr(args, dest, None) for dest in SCHEMA_DESTS):
        given["overrides"] = overrides(args)
    return given


def flag_name(dest: str, args: argparse.Namespace) -> str:
    if dest == "overrides":
        return "/".join(f"--{d}" for d in SCHEMA_DESTS if getattr(args, d, None))
    return "--" + dest.replace("_", "-")


def job_params(kind: str, given: dict, flags: dict, config: dict, path: str | None) -> dict:
    """The constructor's arguments: the config file's, then the flags given (`flags`: dest -> parameter,
    or (parameter, convert)). A dict given both ways (overrides, say) is merged, the flags' keys winning."""
    params = dict(check_config(kind, config, path)) if path else {}
    for dest, value in given.items():
        name, convert = flags[dest] if isinstance(flags[dest], tuple) else (flags[dest], None)
        value = convert(value) if convert else value
        old = params.get(name)
        params[name] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
    for name, p in parameters(kind).items():
        if p.default is p.empty and name not in params:
            flag = next((d for d, v in flags.items() if v == name), name).replace("_", "-")
            raise PolymodalError(f"a {kind} needs its {name}: pass --{flag} (or `{name}:` in --config)")
    return params


# ---------------------------------------------------------------------------- fit
def fit(kind: str, args: argparse.Namespace, params: dict, **more):
    """Fit the job on args.table into --out (default: a new folder under runs/); returns (job, out)."""
    if args.out is None and args.resume:
        raise PolymodalError("--resume continues an interrupted fit: give its run folder with --out RUN")
    from ..runs.directory import default_out
    from ..runs.kinds import job_class

    job = job_class(kind)(**params)
    out = Path(args.out) if args.out is not None else default_out(kind)
    again = "add --resume" if args.out is not None else f"add --out {out} --resume"
    console.print(f"run folder: {out}" + ("" if args.resume else f" (if interrupted, {again})"), highlight=False)
    switches = {k: True for k in ("resume", "overwrite", "tensorboard") if getattr(args, k)}
    job.fit(args.table, out=out, **switches, **more)
    return job, out
