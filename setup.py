"""Packaging beyond pyproject.toml: the bundled model and the app's examples go into the wheel.

They live at the checkout's root (``assets/``, ``prompts/``), where training, the example chooser
and users' commands put and read them; a built package carries copies under ``videolisa/data/``,
where :mod:`videolisa.defaults` finds them once installed.
"""

import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # the build runs setup.py from elsewhere
from videolisa.defaults import SHIPPED  # noqa: E402 (paths only: no torch)


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "videolisa" / "data"
        for source, name in SHIPPED.items():
            path = ROOT / source
            if path.is_dir():
                shutil.copytree(path, target / name, dirs_exist_ok=True)
            elif path.is_file():
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / name)


setup(cmdclass={"build_py": BuildWithData})
