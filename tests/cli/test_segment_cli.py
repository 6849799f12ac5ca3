"""``python -m videolisa segment`` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
def trackers(tmp_path_factory) -> dict[str, Path]:
    from tests.inference.tiny_trackers import TINY_TRACKERS

    root = tmp_path_factory.mktemp("trackers")
    return {name: make(root / f"tiny-{name}") for name, make in TINY_TRACKERS.items()}


def _masks(out: Path) -> np.ndarray:
    """(K, T, H, W) bool masks of a result folder."""
    tracks = sorted((out / "masks").iterdir(), key=lambda folder: int(folder.name))
    return np.stack(
        [[np.asarray(Image.open(png)) > 0 for png in sorted(t.glob("*.png"))] for t in tracks]
    )


@pytest.fixture(scope="module")
def plain(golden_dir, tmp_path_factory) -> np.ndarray:
    """The One-Token-Seg-All masks of the golden frames (no tracker)."""
    out = tmp_path_factory.mktemp("plain") / "out"
    args = [*golden_model_args(golden_dir), "--video", str(golden_dir / "frames")]
    assert main(["segment", *args, "--prompt", PROMPT, "--out", str(out)]) == 0
    return _masks(out)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sam2", "edgetam", "sam3"])
@pytest.mark.parametrize("mode", ["refine", "propagate"])
def test_refine_and_propagate_with_every_tracker(golden_dir, tmp_path, trackers, plain, mode, name):
    out = tmp_path / "out"
    args = [*golden_model_args(golden_dir), "--video", str(golden_dir / "frames")]
    args += ["--prompt", PROMPT, "--out", str(out), f"--{mode}", name]
    assert main(["segment", *args, "--refine-model", str(trackers[name])]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["mode"] == f"{mode}_{name}" and result["num_tracks"] == 1
    masks = _masks(out)
    assert masks.shape == (1, result["num_frames"], 40, 56) == (1, 6, 40, 56)  # every frame
    for frame in result["dense_frame_indices"]:  # the keyframes keep their masks
        assert np.array_equal(masks[:, frame], plain[:, frame])


def test_a_tracker_folder_needs_no_name(golden_dir, tmp_path, trackers):
    out = tmp_path / "out"
    args = [*golden_model_args(golden_dir), "--video", str(golden_dir / "frames")]
    args += ["--prompt", PROMPT, "--out", str(out), "--refine"]
    assert main(["segment", *args, "--refine-model", str(trackers["sam3"])]) == 0
    assert json.loads((out / "result.json").read_text())["mode"] == "refine_sam3"


def test_a_registered_tracker_is_one_entry(golden_dir, tmp_path, monkeypatch):
    """A new tracker is a module with a TrackerEntry plus its entry in the registry: then
    --refine NAME works (here a fake one that fills every frame between the keyframes with the
    first keyframe's masks)."""
    from videolisa.inference.trackers import TrackedChunk, TrackerEntry, registry

    class HoldStill:
        def __init__(self, name: str, checkpoint: str) -> None:
            self.name, self.checkpoint = name, checkpoint

        def propagate(self, frames, keyframe_masks, features=None):
            first = keyframe_masks[min(keyframe_masks)]
            for index in range(len(frames)):
                masks = keyframe_masks.get(index, first)
                yield TrackedChunk(slice(index, index + 1), masks[:, None])

    fake = TrackerEntry(
        "still", "Hold still", "none/still", ("still_video",), lambda n, c, d, t: HoldStill(n, c)
    )
    monkeypatch.setitem(registry.REGISTRY, "still", fake)
    out = tmp_path / "out"
    args = [*golden_model_args(golden_dir), "--video", str(golden_dir / "frames")]
    assert main(["segment", *args, "--prompt", PROMPT, "--out", str(out), "--refine", "still"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["mode"] == "refine_still" and len(list((out / "masks" / "0").iterdir())) == 6


@pytest.mark.parametrize("place", ["file", "read_only", "under_a_file", "full_disk"])
def test_an_output_place_that_cannot_be_written_is_one_line_before_any_work(
    golden_dir, tmp_path, capsys, monkeypatch, place
):
    import shutil

    from videolisa.inference.pipeline import VideoLISAPipeline

    out = tmp_path / "out"
    if place == "file":
        out.write_text("x")
    elif place == "under_a_file":
        (tmp_path / "x").write_text("x")
        out = tmp_path / "x" / "out"
    elif place == "read_only":
        monkeypatch.setattr("tempfile.mkdtemp", _read_only)
    else:
        usage = shutil.disk_usage(tmp_path)
        monkeypatch.setattr(shutil, "disk_usage", lambda _: usage._replace(free=1000))
    monkeypatch.setattr(VideoLISAPipeline, "from_pretrained", _no_model)
    args = [*golden_model_args(golden_dir), "--video", str(golden_dir / "frames")]
    assert main(["segment", *args, "--prompt", PROMPT, "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("error: ") and "--out" in error


def _read_only(*args, **kwargs):
    raise OSError(30, "Read-only file system")


def _no_model(*args, **kwargs):
    raise AssertionError("the model was loaded before the output place was checked")


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


def test_clicks_correct_an_answers_track_or_make_one_alone(golden_dir, tmp_path):
    args = [*golden_model_args(golden_dir), "--video", str(golden_dir / "frames")]
    out = tmp_path / "alone"
    assert (
        main(["segment", *args, "--click", "3:20,15", "--click", "3:40,30:-", "--out", str(out)])
        == 0
    )
    result = json.loads((out / "result.json").read_text())
    assert result["answer"] == "" and result["num_tracks"] == 1
    assert result["corrections"] == [
        {"track": 0, "frame": 3, "clicks": [[20, 15, 1], [40, 30, 0]], "box": None}
    ]
    assert len(list((out / "masks" / "0").glob("*.png"))) == 6
    assert (out / result["overlay"]).is_file()

    out = tmp_path / "corrected"
    corrected = [*args, "--prompt", PROMPT, "--box", "2:4,4,30,30", "--track", "0"]
    assert main(["segment", *corrected, "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["num_tracks"] == 1 and result["tracks"][0]["corrected_on"] == [2]
    assert (out / "masks-original" / "0" / "00002.png").is_file()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--click", "9:5,5"], "Frame 9 is not in the video"),
        (["--click", "1:99,5"], "outside the frame"),
        (["--box", "1:5,5,5,20"], "has no area"),
        (["--prompt", PROMPT, "--click", "1:5,5", "--track", "4"], "--track 4 does not exist"),
        (["--prompt", PROMPT, "--click", "1:5,5", "--max-tracks", "1"], "--max-tracks 1"),
        ([], "no --prompt and no --click"),
    ],
)
def test_bad_clicks_are_one_line(golden_dir, tmp_path, capsys, options, message):
    args = [*golden_model_args(golden_dir), "--video", str(golden_dir / "frames")]
    assert main(["segment", *args, *options, "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: ") and message in error
