"""``python -m videolisa segment`` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import av
import numpy as np
import pytest
from PIL import Image

from tests.conftest import GOLDEN_CLIP, PROJECT_ROOT, golden_model_args
from videolisa.cli import main

PROMPT = "Please segment the moving red square in this image."


def _segment(*args: str, model=None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "videolisa", "segment", *args]
    if model is not None:
        command += ["--model", str(model), "--vision-tower", str(GOLDEN_CLIP)]
    return subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )


@pytest.mark.slow
def test_golden_masks_and_outputs(golden_dir, tmp_path):
    out = tmp_path / "out"
    done = _segment(
        "--video",
        str(golden_dir / "frames"),
        "--prompt",
        PROMPT,
        "--answer",
        "Sure, [SEG].",
        "--frames-sparse",
        "4",
        "--frames-dense",
        "2",
        "--dtype",
        "float32",
        "--device",
        "cpu",
        "--out",
        str(out),
        model=golden_dir,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["answer"] == "Sure, <TRK>." and result["num_tracks"] == 1
    assert result["sparse_frame_indices"] == [0, 1, 3, 4]
    assert result["dense_frame_indices"] == [0, 1]
    assert {"decode", "clip_encode", "sam_encode", "answer", "mask_decode"} <= set(
        result["seconds"]
    )
    agree = total = 0
    for index in range(6):
        ours = np.array(Image.open(out / "masks" / "0" / f"{index:05d}.png"))
        assert set(np.unique(ours)) <= {0, 255}
        expected = np.array(Image.open(golden_dir / "expected_masks" / f"{index:05d}.png")) > 0
        agree += ((ours > 0) == expected).sum()
        total += expected.size
    assert agree / total >= 0.999
    with av.open(str(out / "overlay.mp4")) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
    assert len(frames) == 6 and (frames[0].height, frames[0].width) == (40, 56)
    head = (out / "overlay.mp4").read_bytes()
    assert head.index(b"moov") < head.index(b"mdat")


def test_sam_options_reach_the_encoder(golden_dir, tmp_path, encode_calls):
    video = ["--video", str(golden_dir / "frames"), "--prompt", PROMPT, "--device", "cpu"]
    sam_options = ["--sam-batch", "2", "--max-memory", "16kB"]
    argv = ["segment", *golden_model_args(golden_dir), *video, *sam_options]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0
    assert [(c["sam_batch"], c["sam_memory_budget_bytes"]) for c in encode_calls] == [(2, 16_000)]
    assert len(list((tmp_path / "out" / "masks" / "0").glob("*.png"))) == 6


@pytest.mark.slow
def test_generated_answer_on_an_image(golden_dir, tmp_path):
    image = tmp_path / "frame.png"
    Image.open(golden_dir / "frames" / "00002.png").save(image)
    done = _segment(
        "--video",
        str(image),
        "--prompt",
        PROMPT,
        "--generate",
        "--max-new-tokens",
        "4",
        "--frames-sparse",
        "4",
        "--frames-dense",
        "2",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "out"),
        model=golden_dir,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["num_frames"] == 1
    assert len(list((tmp_path / "out" / "masks").glob("*"))) == result["num_tracks"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.mp4", None, "does not exist"),
        ("empty.mp4", b"", "empty"),
        ("notes.mp4", b"hello, not a video", "notes.mp4"),
        ("noise.mp4", bytes(range(256)) * 64, "noise.mp4"),
    ],
)
def test_bad_video_is_one_line_and_exit_2(golden_dir, tmp_path, name, content, message):
    video = tmp_path / name
    if content is not None:
        video.write_bytes(content)
    done = _segment(
        "--video", str(video), "--prompt", PROMPT, "--out", str(tmp_path / "o"), model=golden_dir
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_folder_that_is_not_a_checkpoint(golden_dir, tmp_path):
    done = _segment(
        "--video",
        str(golden_dir / "frames"),
        "--prompt",
        PROMPT,
        "--out",
        str(tmp_path / "o"),
        model=tmp_path,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.slow
def test_prompt_that_does_not_fit(golden_dir, tmp_path):
    done = _segment(
        "--video",
        str(golden_dir / "frames"),
        "--prompt",
        "word " * 5000,
        "--frames-sparse",
        "4",
        "--frames-dense",
        "2",
        "--out",
        str(tmp_path / "o"),
        model=golden_dir,
    )
    assert done.returncode == 2 and "context" in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.slow
def test_broken_frame_counts_are_refused(golden_dir, tmp_path):
    done = _segment(
        "--video",
        str(golden_dir / "frames"),
        "--prompt",
        PROMPT,
        "--frames-sparse",
        "4",
        "--frames-dense",
        "4",
        "--out",
        str(tmp_path / "o"),
        model=golden_dir,
    )
    assert done.returncode == 2 and "--frames-dense 1-3" in done.stderr


@pytest.fixture(scope="module")
def tiny_sam2(tmp_path_factory):
    from tests.inference.tiny_sam2 import tiny_sam2_checkpoint

    return tiny_sam2_checkpoint(tmp_path_factory.mktemp("sam2") / "tiny-sam2")


@pytest.mark.parametrize("mode", ["refine", "propagate"])
def test_refine_and_propagate_with_sam2(golden_dir, tmp_path, tiny_sam2, mode):
    out = tmp_path / "out"
    args = [*golden_model_args(golden_dir), "--video", str(golden_dir / "frames")]
    args += ["--prompt", PROMPT, "--out", str(out), f"--{mode}", "sam2"]
    assert main(["segment", *args, "--refine-model", str(tiny_sam2)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["mode"] == f"{mode}_sam2" and result["num_tracks"] == 1
    masks = sorted((out / "masks" / "0").glob("*.png"))
    assert len(masks) == result["num_frames"] == 6
    assert np.asarray(Image.open(masks[0])).shape == (40, 56)


@pytest.mark.slow
def test_sam2_without_its_weights_is_one_line(golden_dir, tmp_path):
    out = tmp_path / "out"
    done = _segment(
        "--video", str(golden_dir / "frames"), "--prompt", PROMPT, "--out", str(out),
        "--frames-sparse", "4", "--frames-dense", "2", "--refine", "sam2", model=golden_dir,
    )  # fmt: skip
    assert done.returncode == 2
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("error: The SAM 2 checkpoint facebook/sam2.1-hiera-tiny")
    assert "--refine-model DIR" in error
    assert not out.exists()
