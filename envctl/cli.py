"""The typer application: global options, command registration, and the one place errors are caught.

Each command lives in ``envctl/commands/<verb>.py`` (parse options → ask the composition root in
``toolbox.py`` for what it needs → call the pipeline → hand the result to ``output.py``).
"""

from __future__ import annotations

import functools
import itertools
import signal
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from typer import _click as click
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup, TyperOption

from envctl import __version__, interrupts, output
from envctl.commands import doctor, down, gc, init, plan, rbac, status, timings, up
from envctl.errors import EnvctlError, ExitCode, InputError

__all__ = ["app", "main"]

app = typer.Typer(
    name="envctl",
    help="Ephemeral k3d environments for monorepos: rebuild, load and deploy only what changed; time every step.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help: typer's rich panels label every flag "<bool>" and cost ~50 ms of start-up.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        output.line(f"envctl {__version__}")
        raise typer.Exit


@app.callback()
def _global(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="envctl.yaml to use (default: ./envctl.yaml, then parent folders)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show commands run and tracebacks.")] = False,
    version: Annotated[  # noqa: ARG001 - handled by its eager callback, _version
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    from envctl.toolbox import AppState  # config and pydantic: only once a verb runs, not for --help

    ctx.obj = AppState(config_path=config, verbose=verbose)
    output.configure(verbose=verbose)


for module in (init, plan, up, down, status, timings, doctor, gc, rbac):
    app.command(name=module.NAME, help=module.HELP)(module.command)


@functools.cache
def _command() -> click.Command:
    """The click command tree typer derives from the verbs' signatures, built once per process:
    building it evaluates every option's annotations (~30 ms), and tests run the CLI many times in
    one process. A click command holds no state of an invocation (that lives in its Context)."""
    return typer.main.get_command(app)


def main() -> None:
    """Console entry point: run the app, map errors to one line and a documented exit code.

    SIGINT and SIGTERM are one contract (``interrupts``): the command unwinds, records what it
    did, releases the workspace, and the process exits 130 or 143."""
    with interrupts.handling():
        _main()


def _interrupted() -> NoReturn:
    signum = interrupts.received()
    what = "interrupted" if signum is None else f"interrupted ({signal.Signals(signum).name})"
    _fail(interrupts.exit_code(), what, "finished work is kept; run the same command again to resume")


def _fail(code: int, message: str, hint: str | None) -> NoReturn:
    """The one way out of a failed invocation: ``error:`` and ``hint:`` on stderr, the ``error``
    object in the JSON document on stdout (with ``--output json``), the documented exit code."""
    output.error(message, hint)
    output.finish(code, message, hint)
    sys.exit(code)


def _main() -> None:
    args = sys.argv[1:]
    verbose = "-v" in args or "--verbose" in args
    output.begin(json_document=_asks_for_json(args))
    try:
        _refuse_values_given_to_switches(args)
        # Without standalone mode typer *returns* exit codes (130 for Ctrl-C, n for typer.Exit(n)).
        code = _command().main(args=args, prog_name="envctl", standalone_mode=False)
        if code == ExitCode.INTERRUPTED:
            _interrupted()
        if isinstance(code, int) and code != 0:
            output.finish(code, f"exited with {code}")
            sys.exit(code)
    except EnvctlError as exc:
        if verbose:
            output.traceback()
        _fail(exc.exit_code, exc.message, exc.hint)
    except KeyboardInterrupt:
        _interrupted()
    except typer.Exit as exc:
        output.finish()
        sys.exit(exc.exit_code)
    except typer.Abort:
        _fail(ExitCode.INTERRUPTED, "aborted", None)
    except NoArgsIsHelpError as exc:  # `envctl` alone: the help text, as documented
        exc.show()
        sys.exit(ExitCode.BAD_INPUT)
    except UsageError as exc:
        # Unknown option, bad value, missing argument: envctl's one line and hint, not typer's box.
        command = exc.ctx.command_path if exc.ctx is not None else "envctl"
        message = exc.format_message().rstrip(".")
        hint = f"see `{command} --help` for the flags and their values"
        _fail(ExitCode.BAD_INPUT, message[:1].lower() + message[1:], hint)
    except typer.TyperException as exc:
        _fail(ExitCode.BAD_INPUT, exc.format_message(), "see `envctl --help`")
    except Exception as exc:
        # A bug: the traceback as Python prints it (exit 1), and in JSON mode still one document.
        output.finish(ExitCode.FAILED, f"unexpected {type(exc).__name__}: {exc}", "rerun with --verbose and report it")
        raise
    output.finish()


def _asks_for_json(args: list[str]) -> bool:
    """``-o json``, ``--output json``, ``--output=json`` or ``-ojson`` anywhere on the line: read before
    typer parses it, so a usage error in the same line is answered with a JSON document too."""
    pairs = itertools.pairwise(args)
    return any(
        (flag in ("-o", "--output") and value == "json") for flag, value in pairs
    ) or any(arg in ("--output=json", "-ojson") for arg in args)


_SWITCH_WORDS = frozenset({"true", "false", "yes", "no"})


def _refuse_values_given_to_switches(args: list[str]) -> None:
    """``init --force true``: a switch takes no value, so ``true`` would silently become the next
    argument (init's PATH). Refuse it, naming the switch, before anything runs."""
    suspects = [(flag, word) for flag, word in itertools.pairwise(args)
                if flag.startswith("-") and word.lower() in _SWITCH_WORDS]  # fmt: skip
    if not suspects:
        return  # the common case pays nothing: the command tree below is built only when needed
    group = _command()
    params = list(group.params)
    verb = next((arg for arg in args if not arg.startswith("-")), None)
    if isinstance(group, TyperGroup) and verb is not None and verb in group.commands:
        params += group.commands[verb].params
    switches = {
        name
        for p in params
        if isinstance(p, TyperOption) and p.is_flag
        for name in (*p.opts, *p.secondary_opts)
    }
    for flag, word in suspects:
        if flag in switches:
            msg = f"{flag} is a switch and takes no value; {word!r} would be read as the next argument"
            raise InputError(msg, hint=f"drop {word!r}: `{flag}` alone turns it on")
