"""Every error of the ``paysync`` command is one line on stderr: ``paysync <group> <command>: <what is
wrong>; <the fix>``. Usage errors exit 2 (click's convention), failures of the work 1. An unexpected
exception is one line too; ``PAYSYNC_DEBUG=1`` adds its traceback.

Commands raise :class:`Refused` (bad usage) or :class:`Failure` (the work failed) themselves; the
known failure classes of the libraries they call (warehouse unreachable or misnamed, mapping file,
exception queue, files) are turned into a :class:`Failure` by :class:`Command`, so no command repeats
that handling. Messages quote only what was typed on the command line, never data: a card number
must not reach a terminal or a CI log.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from typing import Any

import click

DEBUG_ENV = "PAYSYNC_DEBUG"
ROOT = "paysync"


def _current() -> click.Context | None:
    return click.get_current_context(silent=True)


def _one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", str(text)).strip()


class Refused(click.UsageError):
    """A usage error whose message already says what is wrong and how to fix it (exit 2)."""

    def __init__(self, what: str, fix: str, ctx: click.Context | None = None) -> None:
        super().__init__(f"{what}; {fix}", ctx or _current())


class Failure(click.ClickException):
    """The work could not be done (exit 1 unless ``exit_code`` says otherwise). ``fix`` is left out
    only where ``what`` already says what to do."""

    def __init__(self, what: str, fix: str | None = None, *, exit_code: int = 1,
                 ctx: click.Context | None = None) -> None:
        super().__init__(f"{what}; {fix}" if fix else what)
        self.exit_code = exit_code  # type: ignore[misc]  # per failure, not per class
        self.ctx = ctx or _current()


class Unexpected(click.ClickException):
    """An exception no command expected: one line, and the traceback only when asked for."""

    def __init__(self, error: BaseException, ctx: click.Context | None) -> None:
        first = (str(error).strip().splitlines() or [""])[0]
        super().__init__(f"unexpected error {type(error).__name__}: {_masked(first)}")
        self.error, self.ctx = error, ctx


def _masked(text: str) -> str:
    """An unexpected message may quote data rather than what was typed; card numbers in it are masked.
    The error path must not fail itself, so a plain digit-run mask stands in if the scrubber cannot."""
    try:
        from paysync_dagster.lib.scrub import mask_card_numbers

        return mask_card_numbers(text)[0]
    except Exception:  # noqa: BLE001
        return re.sub(r"\d(?:[ -]?\d){12,18}", "[digits]", text)


def _classes(module: str, *names: str) -> tuple[type[BaseException], ...]:
    """The named exception classes, if their module is loaded: an exception of a module never imported
    cannot have been raised, and the error path must not import SQLAlchemy just to find out."""
    loaded = sys.modules.get(module)
    return tuple(c for c in (getattr(loaded, n, None) for n in names) if c is not None) if loaded else ()


def explain(error: Exception, ctx: click.Context) -> click.ClickException:
    """The one-line failure for a known exception class, else :class:`Unexpected`."""
    url_option = " (or --database-url)" if any(p.name == "database_url" for p in ctx.command.params) else ""
    if isinstance(error, _classes("sqlalchemy.exc", "NoSuchModuleError")):
        return Failure(f"the warehouse URL names a database driver that is not installed ({_one_line(error)})",
                       f"set PAYSYNC_DATABASE_URL{url_option} to a sqlite:/// or postgresql+psycopg:// URL", ctx=ctx)
    if isinstance(error, _classes("sqlalchemy.exc", "ArgumentError")):
        # Not quoted: the URL may hold a password.
        return Failure("the warehouse URL is not a database URL",
                       f"set PAYSYNC_DATABASE_URL{url_option} to e.g. sqlite:///path/to/warehouse.db or "
                       "postgresql+psycopg://user@host/dbname", ctx=ctx)
    if isinstance(error, _classes("sqlalchemy.exc", "OperationalError", "InterfaceError")):
        # The driver's own message, first line only: the statement and its parameters follow it.
        reason = (str(getattr(error, "orig", None) or error).strip().splitlines() or ["no reason given"])[0]
        return Failure(f"the warehouse cannot be reached: {_masked(reason)}",
                       f"check PAYSYNC_DATABASE_URL{url_option} and that the database is running", ctx=ctx)
    if isinstance(error, _classes("paysync_dagster.lib.mapping", "MappingError")):
        return Failure(_one_line(error), "correct the mapping file, then run the command again", ctx=ctx)
    if isinstance(error, _classes("paysync_dagster.lib.exceptions.queue", "QueueError")):
        return Failure(_one_line(error), ctx=ctx)  # the queue's messages name the ids and what was (not) done
    if isinstance(error, OSError) and not isinstance(error, BrokenPipeError):
        where = f"{error.filename}: " if error.filename else ""
        return Failure(f"{where}{error.strerror or _one_line(error)}", "check the path and its permissions", ctx=ctx)
    return Unexpected(error, ctx)


class _Explained:
    """Turns what a command's code raises into one of this module's one-line errors, with the
    command's own path (the context is gone by the time the exception reaches :meth:`Root.main`)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)  # type: ignore[misc]
        except (click.ClickException, click.exceptions.Exit, click.Abort, BrokenPipeError):
            raise
        except Exception as error:  # noqa: BLE001 - every other one becomes a line, see explain
            raise explain(error, ctx) from error


class Command(_Explained, click.Command):
    pass


class Group(_Explained, click.Group):
    command_class = Command
    group_class = type  # subgroups are Groups too


def _message(error: click.ClickException) -> str:
    if isinstance(error, (Refused, Failure, Unexpected)) or not isinstance(error, click.UsageError):
        return _one_line(error.format_message())
    # click's own usage errors ("No such option: --x.", "Missing option '--out'."): its words, then the fix.
    text = _one_line(error.format_message()).rstrip(".")
    path = error.ctx.command_path if error.ctx else ROOT
    return f"{text[:1].lower()}{text[1:]}; see `{path} --help`"


def report(error: click.ClickException) -> None:
    """Writes the one line (after the traceback, with ``PAYSYNC_DEBUG=1``, for an unexpected error)."""
    ctx = getattr(error, "ctx", None)
    path = ctx.command_path if ctx else ROOT
    line = _message(error)
    if isinstance(error, Unexpected):
        if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            traceback.print_exception(error.error, file=sys.stderr)
            line += "; the traceback is above"
        else:
            line += f"; run with {DEBUG_ENV}=1 for the traceback"
    click.echo(f"{path}: {line}", err=True)


class Root(Group):
    """The ``paysync`` group: in standalone mode (the console script, ``CliRunner``) every error ends
    as one line and an exit code, never as click's usage block or a Python traceback."""

    group_class = Group

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        # Always "paysync", also when run as ``python -m paysync_dagster.cli``.
        prog_name = prog_name or self.name
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as error:
            error.show()  # a bare group: its help is the answer
            code = error.exit_code
        except click.ClickException as error:
            report(error)
            code = error.exit_code
        except click.Abort:
            click.echo(f"{ROOT}: interrupted", err=True)
            code = 1
        except BrokenPipeError:
            # The reader went away (``paysync exceptions list | head``): nothing left to say to it.
            _silence_stdout()
            code = 1
        except Exception as error:  # noqa: BLE001 - raised while parsing, before any command ran
            report(Unexpected(error, None))
            code = 1
        sys.exit(code if isinstance(code, int) else 0)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (CliRunner)
        pass
