"""Every command's help carries examples, and every example parses against the command it shows.

The examples are what users copy; an example naming an option that was renamed would fail them, so
each is parsed by click against the real command (parsing only: nothing runs).
"""

from __future__ import annotations

import shlex

import click
import pytest

from cimsdk.cli import cli

ROOT = click.Context(cli, info_name="cimsdk")


def _leaves(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name in group.list_commands(ROOT):
        cmd = group.get_command(ROOT, name)
        found.append(((*path, name), cmd))
        if isinstance(cmd, click.Group):
            found += _leaves(cmd, (*path, name))
    return found


COMMANDS = _leaves(cli)


def _examples(cmd: click.Command) -> list[str]:
    text = cmd.help or ""
    if "Examples:" not in text:
        return []
    block = text.split("Examples:", 1)[1]
    lines = []
    for line in block.splitlines():
        line = line.split("  #", 1)[0].strip()
        if line.startswith("cimsdk "):
            lines.append(line)
        elif line and lines:
            break
    return lines


def test_every_command_is_found():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"convert", "run", "compare", "validate", "flash", "profile", "fpga build", "device list"} <= names


def _parse(example: str) -> tuple[str, ...]:
    """Parse one example line as click would run it; return the command path it names."""
    argv = shlex.split(example)[1:]
    while argv and argv[0].startswith("-"):  # global options (-v, --debug, --trace) come first
        argv.pop(0)
    parent = ROOT
    command: click.Command = cli
    path: list[str] = []
    while isinstance(command, click.Group) and argv and not argv[0].startswith("-"):
        sub = command.get_command(parent, argv[0])
        assert sub is not None, f"{example!r}: no command {argv[0]!r}"
        parent = click.Context(command, info_name=argv[0], parent=parent)
        command, argv = sub, argv[1:]
        path.append(parent.info_name)
    try:
        command.make_context(path[-1] if path else "cimsdk", list(argv), parent=parent)
    except click.BadParameter as exc:
        # paths in examples are the user's files; only a file that is not here may fail the parse
        assert isinstance(exc.param.type, (click.Path, click.File)), f"{example!r}: {exc.format_message()}"
    except click.UsageError as exc:
        raise AssertionError(f"{example!r}: {exc.format_message()}") from None
    return tuple(path)


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_has_examples_that_parse(path, cmd):
    named = [_parse(ex) for ex in _examples(cmd)]
    if isinstance(cmd, click.Group) and not named:
        return  # a group lists its commands; each of those carries its own examples
    assert any(p[: len(path)] == path for p in named), f"`cimsdk {' '.join(path)} --help` has no example of itself"
