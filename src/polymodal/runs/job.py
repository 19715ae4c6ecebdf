"""`Job`: what the four jobs (Predictor, Aligner, Captioner, Generator) share.

- Parameters are read from the constructor's signature, as scikit-learn's `BaseEstimator` does:
  `get_params`/`set_params` (so `sklearn.base.clone` and model selection work), a readable `repr`,
  and one list of the fit's arguments, never typed twice. Constructors store their arguments as given.
- One fit preamble (`_start_fit`: the --out folder, --resume/--overwrite, the recorded arguments, the
  epoch log) and postamble (`_finish_fit`: timings, save, checkpoints removed).
- One `save`/`load`: the envelope (runs/directory.py) around the job's own state, which each job
  writes and reads through hooks: `_save_state`, `_load_state`, `_summary` (metrics.json),
  `_write_report`, `_card` (the model card's job-specific sections). `FILES` lists the job's own files.
"""

from __future__ import annotations

import inspect
import json
import time
import warnings
from pathlib import Path
from typing import ClassVar

from ..errors import PolymodalError
from ..training import distributed
from . import directory
from .card import write_card
from .files import read_json, write_json
from .log import EpochLog

FIT_ARGS_FILE = "fit_args.json"


class Job:
    kind: ClassVar[str] = ""
    FILES: ClassVar[tuple[str, ...]] = ()  # the job's own files a run must hold (besides the envelope)
    RUNTIME: ClassVar[tuple[str, ...]] = ("progress",)  # parameters that do not change what a fit learns

    # ------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self"
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's arguments as this object holds them (scikit-learn's contract)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> Job:
        valid = self._param_names()
        unknown = [k for k in params if k not in valid]
        if unknown:
            raise PolymodalError(f"{type(self).__name__} has no parameter(s) {', '.join(unknown)}; "
                                 f"valid: {', '.join(valid)}")
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def fit_params(self) -> dict:
        """The parameters that decide what a fit learns, as JSON (what runs record and --config reads)."""
        params = {k: v for k, v in self.get_params().items() if k not in self.RUNTIME}
        return json.loads(json.dumps(params, default=str))

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        shown = [f"{k}={v!r}" for k, v in self.get_params().items() if defaults.get(k, inspect.Parameter.empty) != v]
        return f"{type(self).__name__}({', '.join(shown)})"

    # ------------------------------------------------------------------- fit
    def _start_fit(self, out: str | Path | None, *, resume: bool = False, overwrite: bool = False,
                   tensorboard: bool = False) -> Path | None:
        """Before any work: prepare `out`, refuse a resume with other arguments, open the epoch log."""
        self.fit_started_ = time.time()
        self.__dict__.pop("source_run_", None)  # a refit object is no longer the run it was loaded from
        run = Path(out) if out is not None else None
        if run is None and resume:
            raise PolymodalError("resume=True (--resume) needs the run directory of the interrupted fit (--out)")
        w = distributed.world()
        if run is not None and w.main:
            try:
                resume = self._check_resumable(run, resume)
                directory.prepare_out(run, resume=resume, overwrite=overwrite)
                write_json(run / FIT_ARGS_FILE, self.fit_params())
            except BaseException as exc:  # any failure: the other ranks stop with it instead of waiting
                distributed.decide({"error": str(exc) if isinstance(exc, PolymodalError)
                                    else f"rank 0 failed: {type(exc).__name__}: {exc}"}, w)
                raise
            distributed.decide({"resume": resume}, w)
        elif run is not None:  # under torchrun, ranks other than 0 write into a scratch copy (see _scratch)
            told = distributed.decide(None, w)
            if "error" in told:
                raise PolymodalError(told["error"])
            resume = told["resume"]
            run = self._scratch(run, resume)
        self.log_ = EpochLog(run / "log.csv" if run is not None else None, tensorboard=tensorboard, resume=resume)
        return run

    def _scratch(self, run: Path, resume: bool) -> Path:
        """Under torchrun, where a rank other than 0 keeps its own work files: a temporary copy of rank 0's
        `run` as the fit starts (what a resume reads: finished candidates, checkpoints), removed when the fit
        ends. Rank 0 alone writes the run directory and its checkpoints; the other ranks read the same state
        from the copy, so every rank resumes alike."""
        import shutil
        import tempfile

        self.scratch_ = Path(tempfile.mkdtemp(prefix=f"polymodal-rank{distributed.world().rank}-"))
        if resume and run.exists():
            shutil.copytree(run, self.scratch_, dirs_exist_ok=True)
        return self.scratch_

    def _check_resumable(self, run: Path, resume: bool) -> bool:
        """Whether there is a fit to resume in `run`; one started with other arguments is refused (its
        checkpoints were made with those)."""
        path = run / FIT_ARGS_FILE
        if resume and (run / directory.MARKER).exists():
            raise PolymodalError(f"{run}: holds a finished run (nothing to resume); fit into a new --out, or "
                                 "pass --overwrite (overwrite=True) without --resume to replace it")
        if resume and not path.exists():
            warnings.warn(f"{run}: no interrupted fit to resume (no {FIT_ARGS_FILE}); starting a new fit",
                          stacklevel=4)
            return False
        if resume:
            before, args = read_json(path), self.fit_params()
            changed = [k for k in args if k in before and before[k] != args[k]]
            if changed:
                raise PolymodalError(f"{run}: cannot resume with other arguments than the interrupted fit's: "
                                     + "; ".join(f"{k} was {before[k]!r}, now {args[k]!r}" for k in changed)
                                     + ". Resume with the same arguments, or fit into a new --out.")
        return resume

    def _finish_fit(self, run: Path | None) -> None:
        self.fit_seconds_ = time.time() - self.fit_started_
        self.log_.close()
        scratch = self.__dict__.pop("scratch_", None)
        if scratch is not None:  # a rank other than 0: rank 0 saves the run
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
        elif run is not None:
            with distributed.alone():  # rank 0 alone under torchrun: its report must not wait for the others
                self.save(run)
            directory.finish(run)

    # ------------------------------------------------------------ save/load
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            name = type(self).__name__
            raise PolymodalError(f"this {name} is not fitted yet: call fit() or {name}.load(RUN)")

    def save(self, path: str | Path) -> Path:
        """Write the run directory; polymodal.json last, so a half-written run is never taken as whole."""
        self._check_fitted()
        run = Path(path)
        run.mkdir(parents=True, exist_ok=True)
        (run / directory.MARKER).unlink(missing_ok=True)
        self._save_state(run)
        source = getattr(self, "source_run_", None)
        if source is not None:  # loaded, not refitted: what its fit recorded goes along
            directory.copy_records(source, run)
        elif hasattr(self, "fit_seconds_"):
            summary = self._summary()
            write_json(run / "metrics.json", summary)
            write_json(run / "history.json", self.history_)
            self._write_report(run)
            write_card(self, run, summary)
        directory.write_marker(run, self.kind, self.fit_params(), **self._marker())
        self.run_dir_ = run
        return run

    @classmethod
    def load(cls, path: str | Path) -> Job:
        """A fitted job from its run directory (for predict, evaluate, serve, export, or a refit)."""
        run = directory.check_run(path, kind=cls.kind, files=cls.FILES)
        saved = read_json(run / directory.MARKER).get("fit", {})
        job = cls(**{k: v for k, v in saved.items() if k in cls._param_names()})
        try:
            job._load_state(run)
        except PolymodalError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # files that do not fit together
            raise PolymodalError(f"{run}: the run's files are damaged or do not fit together ({type(exc).__name__}: "
                                 f"{exc}); re-run the fit that wrote it") from exc
        job.run_dir_ = job.source_run_ = run
        job.metrics_ = read_json(run / "metrics.json") if (run / "metrics.json").exists() else {}
        job.history_ = read_json(run / "history.json") if (run / "history.json").exists() else []
        return job

    # ----------------------------------------------------------------- hooks
    def _save_state(self, run: Path) -> None:
        raise NotImplementedError

    def _load_state(self, run: Path) -> None:
        raise NotImplementedError

    def _summary(self) -> dict:
        """metrics.json of a fresh fit."""
        raise NotImplementedError

    def _write_report(self, run: Path) -> None:
        raise NotImplementedError

    def _card(self, summary: dict) -> list[tuple[str, str]]:
        """The model card's job-specific sections: (heading, markdown)."""
        return []

    def _marker(self) -> dict:
        """More keys for polymodal.json (a generator's task, say)."""
        return {}
