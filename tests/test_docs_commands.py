"""Every ``python -m fer_core ...`` command the README and docs/ quote names a command and flags that exist.

Each quoted command's subcommand is run with ``--help`` (in process: argparse prints the help and
exits 0) and each ``--flag`` it quotes must be one of that subcommand's options, so a renamed
command or flag fails here instead of in a reader's terminal.
"""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from fer_core import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND = re.compile(r"python\s+-m\s+fer_core\b(.*)", re.S)
#: where a quoted command ends inside a line: a comment, a second command, a table cell
END = re.compile(r"\s#\s|;|\||\)\s|`|$")


def quoted_commands(text: str) -> list[str]:
    """The ``python -m fer_core ...`` commands of a Markdown text: code-block lines and inline code spans
    (which may wrap over lines)."""
    commands = []
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    for block in blocks:
        commands += [match.group(1) for line in block.splitlines() if (match := COMMAND.search(line))]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"`([^`]+)`", prose):
        match = COMMAND.search(span)
        if match:
            commands.append(match.group(1))
    return [END.split(" ".join(c.split()), maxsplit=1)[0].strip() for c in commands]


def _quoted():
    found = []
    for path in DOCS:
        for command in quoted_commands(path.read_text()):
            if command.startswith("..."):  # "python -m fer_core ...": the commands in general
                continue
            found.append(pytest.param(command, id=f"{path.name}: {command[:60]}"))
    return found


def test_the_docs_quote_commands():
    assert len(_quoted()) > 20


@pytest.mark.parametrize("command", _quoted())
def test_quoted_command_exists_with_its_flags(command):
    parser = cli.build_parser()
    tokens = [t.strip("[]()`,.:'\"") for t in command.split()]
    subcommands = parser._subparsers._group_actions[0].choices
    name = next((t for t in tokens if not t.startswith("-")), None) if tokens else None
    top_flags = {s for action in parser._actions for s in action.option_strings}
    if not tokens or tokens[0].startswith("-") and name not in subcommands:
        assert all(t in top_flags for t in tokens if t.startswith("--")), command
        return
    name = tokens[0]
    assert name in subcommands, f"`python -m fer_core {command}`: no command {name!r}"
    with contextlib.redirect_stdout(io.StringIO()) as shown, pytest.raises(SystemExit) as exited:
        parser.parse_args([name, "--help"])
    assert exited.value.code == 0 and "usage:" in shown.getvalue()
    known = set(subcommands[name]._option_string_actions) | top_flags
    for flag in (t.split("=")[0] for t in tokens[1:] if t.startswith("--")):
        assert flag in known, f"`python -m fer_core {command}`: {name} has no option {flag}"


def test_every_module_and_file_the_docs_name_exists():
    """A module (``fer_core.inference.tracking``) or a path (``fer_core/inference/faces.py``, ``scripts/x.py``,
    ``tests/test_x.py``) quoted in the README or docs/ exists, so a move or a rename fails here."""
    import importlib.util

    missing = []
    for doc in DOCS:
        text = doc.read_text()
        for path in set(re.findall(r"\b((?:fer_core|scripts|tests|ui|app_pages|deploy)/[\w/.-]*\w)", text)):
            if not (ROOT / path).exists() and not any((ROOT / path).parent.glob(Path(path).name)):
                missing.append(f"{doc.name}: {path}")
        for dotted in set(re.findall(r"(?<![\"'])\b(fer_core(?:\.\w+)+)", text)):  # not a quoted key: b"fer_core.x"
            parts = dotted.split(".")
            # the longest prefix that is a module; what follows must be an attribute of it
            found = next((i for i in range(len(parts), 0, -1) if _is_module(".".join(parts[:i]))), None)
            if found is None or not _has(importlib.import_module(".".join(parts[:found])), parts[found:]):
                missing.append(f"{doc.name}: {dotted}")
    assert not missing, missing


def _is_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ModuleNotFoundError, ValueError):  # a parent that is a module, not a package
        return False


def _has(module, attributes: list[str]) -> bool:
    target = module
    for name in attributes:
        if not hasattr(target, name):
            return False
        target = getattr(target, name)
    return True

