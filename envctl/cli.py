"""The typer application: global options, command registration, and the one place errors are caught.

Each command lives in ``envctl/commands/<verb>.py`` (parse options → ask the composition root in
``toolbox.py`` for what it needs → call the pipeline → hand the result to ``output.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from envctl import __version__, output
from envctl.commands import doctor, down, gc, init, plan, rbac, status, timings, up
from envctl.errors import EnvctlError, ExitCode

__all__ = ["app", "main"]

app = typer.Typer(
    name="envctl",
    help="Ephemeral k3d environments for monorepos: rebuild, load and deploy only what changed; time every step.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    from envctl.toolbox import AppState  # config and pydantic: only once a verb runs, not for --help

    ctx.obj = AppState(config_path=config, verbose=verbose)
    output.configure(verbose=verbose)


for module in (init, plan, up, down, status, timings, doctor, gc, rbac):
    app.command(name=module.NAME, help=module.HELP)(module.command)


def main() -> None:
    """Console entry point: run the app, map errors to one line and a documented exit code."""
    verbose = "-v" in sys.argv[1:] or "--verbose" in sys.argv[1:]
    try:
        # Without standalone mode typer *returns* exit codes (130 for Ctrl-C, n for typer.Exit(n)).
        code = app(standalone_mode=False)
        if isinstance(code, int) and code != 0:
            if code == ExitCode.INTERRUPTED:
                output.error("interrupted", "finished work is kept; run the same command again to resume")
            sys.exit(code)
    except EnvctlError as exc:
        if verbose:
            output.traceback()
        output.error(exc.message, exc.hint)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        output.error("interrupted", "finished work is kept; run the same command again to resume")
        sys.exit(ExitCode.INTERRUPTED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        output.error("aborted", None)
        sys.exit(ExitCode.INTERRUPTED)
    except typer.TyperException as exc:
        # Usage errors (unknown option, bad value): typer's own message, then the documented code.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            output.error(str(exc), "see `envctl --help`")
        sys.exit(ExitCode.BAD_INPUT)
