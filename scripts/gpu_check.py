"""The whole GPU check in one process: the published architecture with random weights, every
precision and mode, timed question by question; one JSON and a printed table.

Rows: the LLM in --dtype (bfloat16 by default), 4-bit and 8-bit; SAM batches of 8 and 1;
masks by SAM's decoder on every frame (plain), refined by SAM 2 (refine) or carried from the
dense frames by SAM 2 or SAM 3's tracker (propagate). A row whose needs are missing here
(bitsandbytes for 4/8-bit) is reported as skipped with the reason; any other failure is
reported and makes the exit code 1.

    python -m scripts.gpu_check --out gpu-check.json                 # full size, on the GPU
    python -m scripts.gpu_check --scale tiny --device cpu --frames 16 --size 160x90

``scripts/gpu_check.sh`` picks one of the two by whether a CUDA device is present.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from videolisa.cli.bench_random import parse_frame_size, random_init_report
from videolisa.errors import ConfigError
from videolisa.inference.encoded_video import EncodeSettings

BUDGET = 2 * 10**9  # SAM embeddings kept per video (bench's default --max-memory)


@dataclass(frozen=True)
class Row:
    name: str
    quantization: str | None = None  # None: the LLM in --dtype
    sam_batch: int = 8
    mode: str = "plain"  # plain, refine or propagate (a tracker with random weights)
    tracker: str = "sam2"


ROWS = (
    Row("plain"),
    Row("plain, SAM batch 1", sam_batch=1),
    Row("plain, 4-bit LLM", quantization="4bit"),
    Row("plain, 8-bit LLM", quantization="8bit"),
    Row("refine (SAM 2)", mode="refine"),
    Row("propagate (SAM 2)", mode="propagate"),
    Row("propagate (SAM 3)", mode="propagate", tracker="sam3"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--out", default="gpu-check.json", help="the JSON of every row")
    parser.add_argument("--config", default=None, help="architecture (default: published guess)")
    parser.add_argument("--scale", choices=["full", "tiny"], default="full")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--rows", default=None, help="comma-separated row numbers (1-based)")
    args = parser.parse_args(argv)
    rows = ROWS if args.rows is None else [ROWS[int(i) - 1] for i in args.rows.split(",")]
    size = parse_frame_size(args.size)
    results, failed = [], False
    start = time.perf_counter()
    for row in rows:
        result = run_row(row, args, size)
        failed |= result["status"] == "failed"
        results.append(result)
        _release_memory()
    summary = {"rows": results, "wall_s": time.perf_counter() - start, "args": vars(args)}
    Path(args.out).write_text(json.dumps(summary, indent=2))
    print_table(results)
    print(f"{len(results)} rows in {summary['wall_s']:.0f} s; JSON in {args.out}")
    return 1 if failed else 0


def run_row(row: Row, args: argparse.Namespace, size: tuple[int, int]) -> dict:
    """One row's report, or its status and reason."""
    encode = EncodeSettings(sam_batch=row.sam_batch, sam_memory_budget_bytes=BUDGET)
    started = time.perf_counter()
    base = {"row": row.name, "mode": row.mode, "quantization": row.quantization}
    try:
        report = random_init_report(
            config=args.config,
            scale=args.scale,
            dtype=args.dtype,
            device=args.device,
            quantization=row.quantization,
            frames=args.frames,
            size=size,
            encode=encode,
            propagation=None if row.mode == "plain" else row.mode,
            tracker=row.tracker,
        )
    except ConfigError as error:  # a need missing here: bitsandbytes, a tracker
        return {**base, "status": "skipped", "reason": str(error)}
    except Exception as error:  # every other failure is a row of the report too
        traceback.print_exc()
        return {**base, "status": "failed", "reason": f"{type(error).__name__}: {error}"}
    return {**base, "status": "ok", "row_s": time.perf_counter() - started, **report}


def print_table(results: list[dict]) -> None:
    print(
        f"{'row':<20}{'first s':>9}{'follow s':>10}{'SAM enc':>9}{'masks':>8}{'LLM':>8}"
        f"{'GPU GiB':>9}{'est GB':>8}  precision, device"
    )
    for result in results:
        if result["status"] != "ok":
            print(f"{result['row']:<20}  {result['status']}: {result['reason']}")
            continue
        first = result["first_question"]
        masks = first.get("mask_decode", first.get("tracking", 0.0))
        gpu = result["peak_gpu_mb"]
        print(
            f"{result['row']:<20}{result['first_question_s']:9.2f}{result['followup_s']:10.2f}"
            f"{first['sam_encode']:9.2f}{masks:8.2f}{first['llm']:8.2f}"
            f"{gpu / 1024 if gpu is not None else float('nan'):9.2f}"
            f"{result['estimate_gb']:8.2f}  {result['precision']}, {result['device']}"
        )


def _release_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


if __name__ == "__main__":
    sys.exit(main())
