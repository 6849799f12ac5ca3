"""The published ReasonVOS folder layout, with toy-world fields: write, read back, the command."""

from __future__ import annotations

import argparse
import itertools
import json

import numpy as np
import pytest
from PIL import Image

from videolisa.cli import COMMANDS
from videolisa.cli import toyworld as toyworld_command
from videolisa.errors import UserInputError
from videolisa.toyworld import KINDS, WorldConfig, iter_samples
from videolisa.toyworld.disk import read_toyworld_folder, write_toyworld_folder

CONFIG = WorldConfig(min_frames=8, max_frames=10, min_size=64, max_size=72)


@pytest.fixture(scope="module")
def samples():
    return list(itertools.islice(iter_samples(3, KINDS, CONFIG), len(KINDS)))


def run_command(argv: list[str]) -> int:
    """Run ``toyworld`` as ``python -m videolisa`` would, with only this subcommand."""
    parser = argparse.ArgumentParser()
    toyworld_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


def test_writes_the_reasonvos_layout(tmp_path, samples):
    assert write_toyworld_folder(samples, tmp_path) == len(KINDS)
    meta = json.loads((tmp_path / "meta_expressions.json").read_text())
    for sample in samples:
        video = meta["videos"][sample.video_id]
        frames = [f"{t:05d}" for t in range(len(sample.frames))]
        assert video["frames"] == frames and video["source"] == "toyworld"
        for name in frames:
            assert (tmp_path / "JPEGImages" / sample.video_id / f"{name}.jpg").is_file()
        for obj_id in range(len(sample.objects)):
            folder = tmp_path / "Annotations" / f"toyworld_{sample.video_id}_{obj_id}"
            values = set(np.unique(np.asarray(Image.open(folder / f"{frames[0]}.png"))))
            assert values <= {0, 255}
        # ReasonVOS's sample fields (evaluation/reason_vos/eval_reason_vos.py, __main__).
        (expression,) = video["expressions"]
        last = sample.turns[-1]
        assert expression["exp_text"] == last.question and expression["is_sent"] is True
        assert expression["exp_id"] == 0 and expression["answer"] == last.answer
        assert expression["kind"] == sample.kind
        assert expression["obj_ids"] == list(last.track_objects)
        assert expression["obj_id"] == (last.track_objects[0] if last.track_objects else None)
        assert expression["history"] == [[t.question, t.answer] for t in sample.turns[:-1]]


def test_reads_back_what_it_wrote(tmp_path, samples):
    write_toyworld_folder(samples, tmp_path)
    loaded = list(read_toyworld_folder(tmp_path))
    assert [s.video_id for s in loaded] == [s.video_id for s in samples]
    for back, sample in zip(loaded, samples, strict=True):
        np.testing.assert_array_equal(back.masks, sample.masks)  # exact
        assert back.frames.shape == sample.frames.shape
        error = np.abs(back.frames.astype(int) - sample.frames.astype(int)).mean()
        assert error < 4  # JPEG is lossy
        assert (back.objects, back.turns, back.kind) == (sample.objects, sample.turns, sample.kind)


def test_reads_a_plain_reasonvos_entry_without_toyworld_keys(tmp_path):
    video = tmp_path / "JPEGImages" / "clip"
    video.mkdir(parents=True)
    for obj_id in (0, 1):
        (tmp_path / "Annotations" / f"mose_clip_{obj_id}").mkdir(parents=True)
    for name in ("00000", "00001"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(video / f"{name}.jpg")
        for obj_id in (0, 1):
            mask = np.zeros((8, 8), np.uint8)
            mask[obj_id, :] = 255
            folder = tmp_path / "Annotations" / f"mose_clip_{obj_id}"
            Image.fromarray(mask).save(folder / f"{name}.png")
    sample = {"obj_id": 1, "exp_id": 0, "exp_text": "the thing on row 2", "is_sent": False}
    videos = {"clip": {"source": "mose", "frames": ["00000", "00001"], "expressions": [sample]}}
    (tmp_path / "meta_expressions.json").write_text(json.dumps({"videos": videos}))
    (sample,) = read_toyworld_folder(tmp_path)
    assert sample.masks.shape == (2, 2, 8, 8) and sample.masks[1, :, 1].all()
    assert sample.turns[0].track_objects == (1,) and sample.objects == ()


def test_a_broken_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserInputError, match=r"meta_expressions\.json"):
        list(read_toyworld_folder(tmp_path))
    (tmp_path / "meta_expressions.json").write_text('{"videos": {"v": {"frames": []}}}')
    with pytest.raises(UserInputError, match="malformed"):
        list(read_toyworld_folder(tmp_path))


def test_command_is_registered():
    assert "toyworld" in COMMANDS


def test_command_writes_a_data_set_that_loads(tmp_path, capsys):
    out = tmp_path / "toy"
    argv = ["toyworld", "--out", str(out), "--videos", "4", "--seed", "2"]
    argv += ["--kinds", "several,text", "--max-frames", "10", "--max-size", "72"]
    assert run_command(argv) == 0
    assert "wrote 4 videos" in capsys.readouterr().out
    loaded = list(read_toyworld_folder(out))
    assert [s.kind for s in loaded] == ["several", "text", "several", "text"]
    assert all(s.frames.shape[0] <= 10 and s.frames.shape[1] <= 72 for s in loaded)
    with pytest.raises(UserInputError, match="already holds a data set"):
        run_command(argv)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--kinds", "attribute,colour"], "attribute, motion, comparison"),
        (["--videos", "0"], "--videos 1 or more"),
        (["--min-size", "16"], "64 <= min_size"),
    ],
)
def test_command_rejects_bad_options_with_a_fix(tmp_path, flags, message):
    argv = ["toyworld", "--out", str(tmp_path / "x"), "--videos", "2", *flags]
    with pytest.raises(UserInputError, match=message):
        run_command(argv)
