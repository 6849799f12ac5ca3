"""The package installs with ``pip install .`` and works outside the repository, its data files
(the bundled model, the app's examples) included; ``import videolisa`` stays light until a
public name is used."""

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
        "from videolisa.defaults import DEFAULT_MODEL, EXAMPLES_DIR, EXAMPLES_FILE\n"
        "from videolisa.modeling.chat_template import ChatTemplate\n"
        "assert ChatTemplate.load().name == 'phi3_instruct'\n"
        "assert (DEFAULT_MODEL / 'config.json').is_file() and EXAMPLES_FILE.is_file()\n"
        "print(pathlib.Path(videolisa.__file__).parent)\n"
        "print(EXAMPLES_DIR / 'shapes.mp4')\n"
    )
    done = subprocess.run(
        [str(python), "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    package, example = done.stdout.split()
    assert Path(package).is_relative_to(site_packages)  # not this checkout
    assert Path(example).is_relative_to(site_packages)

    out = tmp_path / "star"  # the installed command on the installed model, outside the checkout
    segment = [str(env / "bin" / "videolisa"), "segment", "--video", example]
    segment += ["--prompt", "Can you segment the star?", "--out", str(out)]
    done = subprocess.run(
        segment, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (out / "result.json").is_file() and (out / "overlay.mp4").is_file()


def test_the_public_names():
    assert set(videolisa.__all__) == {
        "VideoLISAPipeline",
        "EncodeSettings",
        "GenerationSettings",
        "Message",
        "read_video",
        "ResultWriter",
        "UserInputError",
        "Click",
        "Box",
        "FramePrompt",
    }
    for name in videolisa.__all__:
        assert getattr(videolisa, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        videolisa.nope  # noqa: B018


def test_importing_the_package_loads_no_torch():
    code = "import sys, videolisa; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True)
    assert done.stdout.strip() == b"False"
