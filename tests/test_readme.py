"""The README's Python example runs as written (on the bundled model) and imports only from
``videolisa``."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import PROJECT_ROOT


def python_example() -> str:
    section = (PROJECT_ROOT / "README.md").read_text().split("### Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_example_imports_only_the_package_face():
    imports = re.findall(r"^from (\S+) import", python_example(), re.M)
    assert imports == ["videolisa"]


@pytest.mark.slow
def test_the_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(PROJECT_ROOT)
    code = python_example().replace('"results/star"', repr(str(tmp_path / "star")))
    exec(compile(code, "README.md", "exec"), {})
    result = json.loads((tmp_path / "star" / "result.json").read_text())
    assert result["num_frames"] > 0 and (tmp_path / "star" / "overlay.mp4").is_file()
