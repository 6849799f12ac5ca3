"""The Python examples of the README and of docs/clicks.md run as written (on the bundled model)
and import only from ``videolisa``."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import PROJECT_ROOT


def python_example(document: str = "README.md", after: str = "### Python") -> str:
    section = (PROJECT_ROOT / document).read_text().split(after, 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def clicks_example() -> str:
    return python_example("docs/clicks.md", "## API, command line, Python")


@pytest.mark.parametrize("example", [python_example, clicks_example])
def test_the_example_imports_only_the_package_face(example):
    imports = re.findall(r"^from (\S+) import", example(), re.M)
    assert imports == ["videolisa"]


@pytest.mark.slow
def test_the_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(PROJECT_ROOT)
    code = python_example().replace('"results/star"', repr(str(tmp_path / "star")))
    exec(compile(code, "README.md", "exec"), {})
    result = json.loads((tmp_path / "star" / "result.json").read_text())
    assert result["num_frames"] > 0 and (tmp_path / "star" / "overlay.mp4").is_file()


@pytest.mark.slow
def test_the_clicks_example_segments_the_clicked_circle(tmp_path, monkeypatch):
    """A click on the red circle on frame 0 gives the red circle there (with part of the green
    triangle that touches it on that frame: J 0.54), and a mask on every frame."""
    import numpy as np
    from PIL import Image

    from videolisa import read_video

    monkeypatch.chdir(PROJECT_ROOT)
    code = clicks_example().replace('"results/clicked"', repr(str(tmp_path / "clicked")))
    exec(compile(code, "docs/clicks.md", "exec"), {})
    result = json.loads((tmp_path / "clicked" / "result.json").read_text())
    video = read_video("assets/examples/shapes.mp4")
    assert result["num_frames"] == video.num_frames
    pixels = video.frames[0].astype(int)
    red = pixels[..., 0] - pixels[..., 1:].max(axis=-1) > 40  # the circle and its soft edge
    masks = sorted((tmp_path / "clicked" / "masks" / "0").glob("*.png"))
    assert len(masks) == video.num_frames
    first = np.asarray(Image.open(masks[0])) > 0
    assert (first & red).sum() / (first | red).sum() >= 0.5
    assert all((np.asarray(Image.open(m)) > 0).any() for m in masks)
