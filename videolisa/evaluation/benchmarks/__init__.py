"""Benchmark adapters for ``python -m videolisa eval``: each lists its items, runs one with the
published prompt and writes its predictions in the layout the benchmark's scorer reads.

A benchmark is one module here with ``load(data, out_dir, **options) -> Benchmark`` and one entry
in :data:`REGISTRY` naming it, whether it needs ``--data`` or generates its answers, and its
extra command-line options (which ``eval`` adds, passes to ``load`` by name and records in the
run's settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from videolisa.errors import UserInputError
from videolisa.evaluation.benchmarks.base import Benchmark, Record, RunSettings


@dataclass(frozen=True)
class Option:
    """An extra ``eval`` option of a benchmark: ``--name`` (underscores as dashes)."""

    name: str
    type: type
    default: Any
    help: str
    metavar: str | None = None


@dataclass(frozen=True)
class Entry:
    """A registered benchmark: its module under this package, whether it needs ``--data``,
    generates its answers (``--max-new-tokens`` then matters) and is refinable (``load``
    returns a ``VideoBenchmark``, whose masks SAM 2 can carry over time), and the options
    ``load`` takes."""

    module: str
    needs_data: bool = True
    generates: bool = False
    refinable: bool = True  # a VideoBenchmark: --refine / --propagate apply
    options: tuple[Option, ...] = ()


REGISTRY: dict[str, Entry] = {
    "reasonvos": Entry("reasonvos"),
    "mevis": Entry("mevis"),
    "refytvos": Entry("refytvos"),
    "refdavis": Entry("refdavis"),
    "reasonseg": Entry("reasonseg", refinable=False),
    "refcoco": Entry(
        "refcoco",
        refinable=False,
        options=(
            Option(
                "refer_split",
                str,
                "refcoco|unc|val",
                "refcoco: references to run (default refcoco|unc|val; e.g. refcocog|umd|test)",
                "DATASET|BY|SPLIT",
            ),
        ),
    ),
    "toyworld": Entry(
        "toyworld",
        needs_data=False,
        generates=True,
        refinable=False,
        options=(
            Option(
                "samples_per_kind",
                int,
                50,
                "toyworld without --data: test samples of each question kind (default 50)",
                "N",
            ),
        ),
    ),
}
BENCHMARKS: tuple[str, ...] = tuple(REGISTRY)

__all__ = ["BENCHMARKS", "REGISTRY", "Benchmark", "Entry", "Option", "Record", "RunSettings"]


def load_benchmark(
    name: str, data: Path | None, out_dir: Path, options: dict[str, Any]
) -> Benchmark:
    """The benchmark ``name`` read from ``data`` (None where it needs none); predictions will go
    under ``out_dir``; ``options`` holds at least its own options (others are ignored)."""
    entry = REGISTRY.get(name)
    if entry is None:
        raise UserInputError(
            f"Unknown benchmark {name!r}.", f"Use one of: {', '.join(BENCHMARKS)}."
        )
    if data is None and entry.needs_data:
        raise UserInputError(f"--benchmark {name} needs --data.", "Pass the benchmark's folder.")
    if data is not None and not data.is_dir():
        raise UserInputError(f"{data} is not a folder.", "Pass the benchmark's folder to --data.")
    module = import_module(f"{__name__}.{entry.module}")
    return module.load(data, out_dir, **{o.name: options[o.name] for o in entry.options})
