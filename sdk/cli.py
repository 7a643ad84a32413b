"""The `cimsdk` command line: subcommands are discovered from `cimsdk.commands`, loaded lazily."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from cimconv.errors import UserError
from cimsdk import commands as _commands_pkg


def _command_modules() -> dict[str, str]:
    names = {}
    for info in pkgutil.iter_modules(_commands_pkg.__path__):
        if not info.name.startswith("_"):
            names[info.name.replace("_", "-")] = f"{_commands_pkg.__name__}.{info.name}"
    return names


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_command_modules())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module = _command_modules().get(name)
        if module is None:
            return None
        return importlib.import_module(module).command


@click.group(cls=_LazyGroup)
@click.version_option(package_name="cimsdk")
def cli() -> None:
    """cimsdk: deploy int8 TFLite models on compute-in-memory hardware."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a UserError becomes one line on stderr and exit status 2, never a traceback."""
    try:
        cli.main(args=argv, standalone_mode=False)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(0)


if __name__ == "__main__":
    main()
