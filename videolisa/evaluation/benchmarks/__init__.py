"""Benchmark adapters for ``python -m videolisa eval``: each lists its items, runs one with the
published prompt and writes its predictions in the layout the benchmark's scorer reads."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from videolisa.errors import UserInputError
from videolisa.evaluation.benchmarks.base import Benchmark, Record, RunSettings

BENCHMARKS: tuple[str, ...] = (
    "reasonvos",
    "mevis",
    "refytvos",
    "refdavis",
    "reasonseg",
    "refcoco",
    "toyworld",
)

__all__ = ["BENCHMARKS", "Benchmark", "Record", "RunSettings", "load_benchmark"]


def load_benchmark(
    name: str, data: Path | None, out_dir: Path, *, samples_per_kind: int, refer_split: str
) -> Benchmark:
    """The benchmark ``name`` read from ``data``; predictions will go under ``out_dir``.

    toyworld: None draws the held-out test sets, ``samples_per_kind`` of each kind. refcoco:
    ``refer_split`` (``dataset|splitBy|split``) picks the references.
    """
    if name == "toyworld":
        from videolisa.evaluation.benchmarks import toyworld

        return toyworld.held_out(samples_per_kind) if data is None else toyworld.from_folder(data)
    if name not in BENCHMARKS:
        raise UserInputError(
            f"Unknown benchmark {name!r}.", f"Use one of: {', '.join(BENCHMARKS)}."
        )
    if data is None:
        raise UserInputError(f"--benchmark {name} needs --data.", "Pass the benchmark's folder.")
    if not data.is_dir():
        raise UserInputError(f"{data} is not a folder.", "Pass the benchmark's folder to --data.")
    module = import_module(f"videolisa.evaluation.benchmarks.{name}")
    if name == "refcoco":
        return module.load(data, out_dir, refer_split)
    return module.load(data, out_dir)
