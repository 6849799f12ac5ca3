"""Every command in the README and in ``docs/`` is one the project accepts: its options parse
(the commands themselves need weights or data sets this machine does not have), the test files
it names exist, and every relative link points at a file of the checkout."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

DOCUMENTS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
FENCED = re.compile(r"```bash\n(.*?)```", re.S)
INLINE = re.compile(r"`((?:python -m videolisa|python app\.py)[^`]*)`")
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")
# Inline mentions that name a placeholder instead of a real subcommand or benchmark.
PLACEHOLDERS = ("python -m videolisa COMMAND", "--benchmark mybench")
SETUP = ("python3 -m venv", ". .venv/bin/activate", "pip install", "apt-get install")


def shell_commands(text: str) -> list[str]:
    """The commands of the bash blocks of ``text`` (continuations joined, comments dropped)."""
    commands = []
    for block in FENCED.findall(text):
        for command in block.replace("\\\n", " ").splitlines():
            words = shlex.split(command, comments=True)
            if words:
                commands.append(shlex.join(words))
    return commands


def inline_commands(text: str) -> list[str]:
    spans = INLINE.findall(text.replace("\n", " "))
    return [span for span in spans if not any(p in span for p in PLACEHOLDERS)]


def all_commands() -> list[tuple[str, str]]:
    found = []
    for document in DOCUMENTS:
        text = document.read_text()
        name = document.relative_to(PROJECT_ROOT).as_posix()
        found += [(name, command) for command in shell_commands(text) + inline_commands(text)]
    return found


def check(command: str) -> None:
    """Raise if ``command`` is not one the project would accept as written."""
    words = shlex.split(command.replace("\\|", "|"))
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # environment assignments
        words = words[1:]
    if command.startswith(SETUP):
        return
    if words[:2] == ["accelerate", "launch"] or words[0] == "torchrun":
        words = ["python", *words[words.index("-m") :]]  # drop the launcher and its options
    if words[:3] == ["python", "-m", "videolisa"]:
        from videolisa.cli import build_parser

        parser = build_parser()
        if len(words) == 4:  # a command named in the text, not run
            assert words[3] in parser._subparsers._group_actions[0].choices, words[3]
        else:
            parser.parse_args(words[3:])
    elif words[:2] == ["python", "app.py"]:
        import app

        app.parse_args(words[2:])
    elif words[:4] == ["python", "-m", "pytest", "-q"] or words[:3] == ["python", "-m", "pytest"]:
        for word in words[3:]:
            if word.startswith("tests/"):
                assert (PROJECT_ROOT / word.split("::")[0]).exists(), word
    elif words[:2] == ["python", "-m"]:
        module = PROJECT_ROOT / Path(*words[2].split("."))
        assert module.with_suffix(".py").is_file() or module.is_dir(), words[2]
    elif words[0] in ("bash", "sh") or words[0].startswith("scripts/"):
        script = words[1] if words[0] in ("bash", "sh") else words[0]
        assert (PROJECT_ROOT / script).is_file(), script
    else:
        raise AssertionError(f"no check for this kind of command: {command}")


@pytest.mark.parametrize(("document", "command"), all_commands())
def test_every_documented_command_is_accepted(document, command):
    try:
        check(command)
    except SystemExit as error:  # argparse refused it (or printed --help)
        if error.code:
            pytest.fail(f"{document}: {command!r} is refused (exit {error.code})")


def test_the_documents_hold_commands():
    documents = {document for document, _ in all_commands()}
    assert {"README.md", "docs/evaluation.md", "docs/training.md"} <= documents


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_relative_links_point_at_files(document):
    for target, _anchor in LINK.findall(document.read_text()):
        if "://" in target:
            continue
        assert (document.parent / target).exists(), f"{document.name} links to {target}"


def test_the_readme_is_a_front_door():
    lines = (PROJECT_ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 230
    for document in DOCUMENTS[1:]:
        assert f"docs/{document.name}" in "\n".join(lines), f"README does not link {document}"
