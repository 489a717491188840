"""The Typer application object and its error handling, shared by every command module."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

# Typer >= 0.29 vendors click; its exception types live here (pinned in pyproject.toml).
from typer._click.exceptions import ClickException, NoArgsIsHelpError

from clinnlp.errors import ClinnlpError


def fail(message: str) -> None:
    """Print a one-line error to stderr (never a traceback)."""
    typer.echo(f"clinnlp: error: {message}", err=True)


class OneLineErrorGroup(TyperGroup):
    """A command group whose usage and library errors print as one line, not a panel.

    Typer's default draws a multi-line box; scripts and people alike read a single
    ``clinnlp: error: ...`` line on stderr more easily, with the exit code to branch on.
    """

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(
                args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra
            )
        except NoArgsIsHelpError:
            code = 0  # the help was printed: asking for it is no error
        except ClickException as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
            # Typer's enum check says "Value error, 'x' is not one of ..."; the prefix is noise
            fail(exc.format_message().replace("\n", " ").replace("Value error, ", "") + hint)
            code = exc.exit_code
        except ClinnlpError as exc:
            fail(str(exc))
            code = 1
        except (typer.Abort, KeyboardInterrupt):
            fail("aborted")
            code = 130
        else:
            code = result if isinstance(result, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)


app = typer.Typer(
    name="clinnlp",
    cls=OneLineErrorGroup,
    epilog="Examples:  clinnlp extract note.txt  |  clinnlp extract --format table note.txt  |  clinnlp schema",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
