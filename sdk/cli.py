"""The `cimsdk` command line: subcommands are discovered from `cimsdk.commands`, loaded lazily.

Whatever happens, a user sees one line, never a traceback (`--debug` or CIMSDK_DEBUG=1 shows it):

| what | exit status |
|---|---|
| success | 0 |
| a mismatch found (`compare`, `validate`) | 1 |
| bad input or environment: a UserError, a file that cannot be read or written, a missing optional package | 2 |
| a usage error: the command line does not parse (unknown command or option, missing argument, bad value) | 64 |
| interrupted: Ctrl-C (SIGINT) 130, SIGTERM 143, SIGHUP 129 | 128 + signal |
| a bug in cimsdk (anything else) | 70 |
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import signal
import sys
import traceback

import click

from cimconv.errors import UserError
from cimsdk import commands as _commands_pkg

EXIT_USER_ERROR = 2
EXIT_USAGE = 64  # sysexits.h EX_USAGE: the command was used wrongly, as opposed to given bad input
EXIT_INTERNAL = 70


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
@click.option("--debug", is_flag=True, envvar="CIMSDK_DEBUG", help="Show the traceback of an error.")
@click.option("--trace", is_flag=True, envvar="CIMSDK_TRACE",
              help="Print every byte sent to and received from a board (hex, on stderr), like esptool's --trace.")
@click.option("-v", "--verbose", count=True,
              help="Say what each stage does on stderr (-v), with its details (-vv).")
def cli(debug: bool, trace: bool, verbose: int) -> None:
    """cimsdk: deploy int8 TFLite models on compute-in-memory hardware.

    \b
    Examples:
      cimsdk demo                                  # the whole pipeline on the emulated board
      cimsdk convert model.tflite -t nor-acim      # -> model/model.cimg, report.txt
      cimsdk run model -i input.npy
      cimsdk device list                           # boards on USB serial ports and emulated ones
      cimsdk --debug --trace device info -p auto   # traceback and protocol bytes on errors
      cimsdk -v convert model.tflite               # each stage of the conversion, timed
    """
    _configure_logging(verbose)
    if debug:
        os.environ["CIMSDK_DEBUG"] = "1"
    if trace:
        os.environ["CIMSDK_TRACE"] = "1"


def _configure_logging(verbose: int) -> None:
    """-v shows the library's INFO records (stages, commands launched), -vv its DEBUG ones, on stderr."""
    if verbose <= 0:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(relativeCreated)7.0f ms %(name)s: %(message)s"))
    for name in ("cimsdk", "cimconv", "cimcontracts"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO if verbose == 1 else logging.DEBUG)
        if not any(getattr(h, "_cimsdk_cli", False) for h in logger.handlers):
            handler._cimsdk_cli = True  # type: ignore[attr-defined]  # main() may run twice in one process
            logger.addHandler(handler)


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C, so every `with` block cleans up."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _on_terminate(signum: int, frame) -> None:  # noqa: ANN001, ARG001
    raise Terminated(signum)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _os_error_message(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    return f"cannot use{where}: {exc.strerror or exc}"


def _names_a_bad_path(exc: click.UsageError) -> bool:
    """A path option naming a missing or wrong-kind file is bad input (2), not a misused command (64)."""
    param = getattr(exc, "param", None)
    return (isinstance(exc, click.BadParameter) and not isinstance(exc, click.MissingParameter)
            and isinstance(getattr(param, "type", None), (click.Path, click.File)))


def _traceback_if_debug() -> None:
    if os.environ.get("CIMSDK_DEBUG", "") not in ("", "0"):
        traceback.print_exc()


def _internal_error(exc: BaseException) -> None:
    click.echo(
        f"error: internal error ({type(exc).__name__}: {_one_line(exc, 160)}); this is a bug in cimsdk: "
        "run again with --debug for the traceback and report it",
        err=True,
    )


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every outcome becomes one line on stderr and a documented exit status."""
    from cimconv import atomic
    from cimsdk import janitor

    atomic.add_temp_watcher(janitor.watch_path, janitor.forget_path)
    previous = {sig: signal.signal(sig, _on_terminate) for sig in (signal.SIGTERM, signal.SIGHUP)}
    status = 0
    try:
        cli.main(args=argv, prog_name="cimsdk", standalone_mode=False)
    except UserError as exc:
        _traceback_if_debug()
        click.echo(f"error: {_one_line(exc)}", err=True)
        status = EXIT_USER_ERROR
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        status = 130
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "cimsdk"
        click.echo(f"error: {_one_line(exc.format_message())} (see `{where} --help`)", err=True)
        status = EXIT_USER_ERROR if _names_a_bad_path(exc) else EXIT_USAGE
    except click.ClickException as exc:
        click.echo(f"error: {_one_line(exc.format_message())}", err=True)
        status = exc.exit_code
    except click.exceptions.Exit as exc:
        status = exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        status = 130
    except Terminated as exc:
        click.echo(f"terminated ({signal.Signals(exc.signum).name})", err=True)
        status = 128 + exc.signum
    except BrokenPipeError:
        # The reader of our output went away (`cimsdk inspect ... | head`): nothing left to say.
        sys.stderr.close()
        os._exit(0)
    except ImportError as exc:
        from cimsdk.extras import install_hint

        hint = install_hint(exc.name or "")
        _traceback_if_debug()
        if hint is None:
            _internal_error(exc)
            status = EXIT_INTERNAL
        else:
            click.echo(f"error: {hint}", err=True)
            status = EXIT_USER_ERROR
    except OSError as exc:
        _traceback_if_debug()
        click.echo(f"error: {_one_line(_os_error_message(exc))}", err=True)
        status = EXIT_USER_ERROR
    except Exception as exc:  # a bug: one line, the traceback on request
        _traceback_if_debug()
        _internal_error(exc)
        status = EXIT_INTERNAL
    finally:
        for sig, handler in previous.items():  # main() called in-process (tests, scripts) leaves no trace
            signal.signal(sig, handler)
    sys.exit(status)


if __name__ == "__main__":
    main()
