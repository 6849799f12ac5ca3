"""The package installs with ``pip install .`` and works outside the repository, its data files
included; ``import videolisa`` stays light until a public name is used."""

from __future__ import annotations

import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import videolisa

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_pip_install_then_import_outside_the_repository(tmp_path):
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    site_packages = next((env / "lib").glob("python*/site-packages"))
    # The dependencies are this environment's (no multi-GB torch download in a test).
    (site_packages / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = [str(python), "-m", "pip", "install", "-q", str(PROJECT_ROOT)]
    subprocess.run(install, check=True, capture_output=True, timeout=600)
    check = (
        "import videolisa, pathlib\n"
        "from videolisa import VideoLISAPipeline, EncodeSettings\n"
        "from videolisa.modeling.chat_template import ChatTemplate\n"
        "assert ChatTemplate.load().name == 'phi3_instruct'\n"
        "print(pathlib.Path(videolisa.__file__).parent)\n"
    )
    done = subprocess.run(
        [str(python), "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(site_packages)  # not this checkout


def test_the_public_names():
    assert set(videolisa.__all__) == {
        "VideoLISAPipeline",
        "EncodeSettings",
        "GenerationSettings",
        "Message",
        "read_video",
        "ResultWriter",
        "UserInputError",
    }
    for name in videolisa.__all__:
        assert getattr(videolisa, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        videolisa.nope  # noqa: B018


def test_importing_the_package_loads_no_torch():
    code = "import sys, videolisa; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True)
    assert done.stdout.strip() == b"False"
