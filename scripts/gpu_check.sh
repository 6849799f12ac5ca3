#!/usr/bin/env bash
# The GPU check: the published architecture with random weights (no download), timed in every
# precision and mode (16-bit, 4-bit and 8-bit LLM; SAM batch 1 and 8; plain, refine, propagate)
# on a 300-frame 1280x720 synthetic video; one JSON (gpu-check.json, or $1) and a table.
#
#   scripts/gpu_check.sh [OUT.json]
#
# With a CUDA device: full size (about 10 GB of GPU memory in bfloat16), under 8 minutes on one
# H100/H200. Without one: the same rows at --scale tiny on a 16-frame 160x90 video, under a
# minute on a CPU (tests/profiling/test_gpu_check.py runs this, so the script keeps working).
#
# The architecture comes from ../shared/golden/config-videolisa-3.8b.guess.json, or
# $VIDEOLISA_CONFIG. On a machine without segment-anything (a GPU box that cannot reach a
# package index), put its wheel in .whl/ first: pip download segment-anything==1.0 --no-deps -d .whl
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-check.json}"
python="${PYTHON:-python}"

has() { "$python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)"; }
if ! has segment_anything && ls .whl/segment_anything-*.whl >/dev/null 2>&1; then
    "$python" -m pip install -q --no-index --no-deps --target /tmp/videolisa-site .whl/segment_anything-*.whl
    export PYTHONPATH="/tmp/videolisa-site${PYTHONPATH:+:$PYTHONPATH}"
fi
config=()
if [ -n "${VIDEOLISA_CONFIG:-}" ]; then
    config=(--config "$VIDEOLISA_CONFIG")
fi

if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    "$python" -m scripts.gpu_check --out "$out" --device cuda --dtype bfloat16 "${config[@]}"
else  # float32: CPUs run bfloat16 convolutions slowly, and the check is about the code path
    "$python" -m scripts.gpu_check --out "$out" --device cpu --dtype float32 --scale tiny \
        --frames 16 --size 160x90 "${config[@]}"
fi
