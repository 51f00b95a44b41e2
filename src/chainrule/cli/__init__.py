"""The command line: ``chainrule train | evaluate | predict | gradcheck | explain | export |
playground``.

Each command is one function of the Typer app ``app`` (another command is one more function).
`main` runs the app and turns every problem with the user's input (a missing file, a bad
option value, data that cannot be learned from) into one line on stderr and a non-zero exit
status, never a traceback. Standard output is written through `_Stdout`, so that a write that
fails there (closed, a full disk) is said to be standard output's, not taken for a file's; a
reader that goes away (``chainrule ... | head``) ends the command quietly with status 141
(128 + SIGPIPE, as a program killed by that signal).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Sequence

import typer

import chainrule.cli.app as shared
import chainrule.cli.models
import chainrule.cli.tools
import chainrule.cli.train  # noqa: F401  (each module registers its commands)
from chainrule.cli.app import CLIError, _error, _UsageError, app

# -------------------------------------------------------------------------------------- main
# DataError and ModelFileError are ValueErrors; the core's ValueErrors name the bad value and the fix
_USER_ERRORS = (CLIError, ValueError, FileExistsError, FloatingPointError)


class StdoutError(Exception):
    """Standard output cannot be written: closed, or a write failed (a full disk)."""


class _ReaderGoneError(Exception):
    """The reader of standard output went away (``chainrule ... | head``)."""


class _Stdout:
    """``sys.stdout`` while a command runs: each write or flush that fails raises `StdoutError`
    (`_ReaderGoneError` for a broken pipe), which `main` says in one line; the rest is the stream's."""

    def __init__(self, stream: object) -> None:
        self.stream = stream

    def _do(self, name: str, *args: object) -> object:
        try:
            if self.stream is None:  # started with its standard output closed (>&-)
                raise OSError(errno.EBADF, "it is closed")
            return getattr(self.stream, name)(*args)
        except BrokenPipeError:
            raise _ReaderGoneError from None
        except (OSError, ValueError) as e:  # ValueError: I/O operation on closed file
            raise StdoutError(getattr(e, "strerror", None) or str(e)) from None

    def write(self, text: str) -> object:
        return self._do("write", text)

    def writelines(self, lines: Sequence[str]) -> object:
        return self._do("writelines", lines)

    def flush(self) -> object:
        return None if self.stream is None else self._do("flush")

    def isatty(self) -> bool:
        return self.stream is not None and bool(self.stream.isatty())  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        if self.stream is None:
            raise AttributeError(name)
        return getattr(self.stream, name)


class _Stopped(BaseException):
    """SIGINT or SIGTERM outside a checkpointed run (which saves and stops by itself)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop(signum: int, frame: object) -> None:
    raise _Stopped(signum)


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: run the app; a user's mistake is one line on stderr and exit status 1
    (2 for a malformed command line), never a traceback; SIGINT and SIGTERM one line too (exit
    130 and 143), after whatever was being written is let go whole or not at all."""
    command = typer.main.get_command(app)
    warnings.showwarning = _show_warning
    # NumPy's overflow and invalid-value warnings: the divergence guard says what broke
    warnings.filterwarnings("ignore", r"(overflow|invalid value|divide by zero) encountered", RuntimeWarning)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.signal(signum, _stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    stdout = sys.stdout
    if stdout is None:  # fd 1 closed: hold it with /dev/null, so that no file opened later becomes it
        os.open(os.devnull, os.O_WRONLY)
    sys.stdout = _Stdout(stdout)  # type: ignore[assignment]
    try:
        if stdout is None:  # every command writes there: say so before any work is done
            raise StdoutError("it is closed")
        status = command.main(args=argv, prog_name="chainrule", standalone_mode=False)
        sys.stdout.flush()  # here, where a failure is said, not at exit
    except StdoutError as e:
        _error(
            f"cannot write to standard output ({e}): send it where it can be written (> FILE), "
            "or discard it (> /dev/null)",
            1,
        )
    except _ReaderGoneError:  # the reader went away (chainrule ... | head): stop quietly
        _quiet_stdout()
        sys.exit(128 + signal.SIGPIPE)
    except _Stopped as e:
        name = signal.Signals(e.signum).name
        hint = (
            ": the run wrote nothing (with --checkpoint-every it saves its state, and --resume goes on)"
            if shared.training
            else ""
        )
        _error(f"stopped by {name}{hint}", 128 + e.signum)
    except _UsageError as e:
        ctx = getattr(e, "ctx", None)
        if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
            with contextlib.suppress(StdoutError, _ReaderGoneError):
                print(ctx.get_help())
                sys.stdout.flush()
            sys.exit(2)
        where = ctx.command_path if ctx is not None else "chainrule"
        _error(f"{e.format_message()} (see: {where} --help)", 2)  # type: ignore[attr-defined]
    except _USER_ERRORS as e:
        _error(_flags(str(e)), 1)
    except BrokenPipeError:  # the reader went away, seen outside a write to sys.stdout
        _quiet_stdout()
        sys.exit(128 + signal.SIGPIPE)
    except OSError as e:  # a file that cannot be read or written
        if e.strerror is None:  # chainrule's own, one message that names the fix
            _error(_flags(str(e)), 1)
        if e.filename is None and ": " in e.strerror:  # chainrule's own, with the system's errno
            _error(_flags(e.strerror), 1)
        where = f": {e.filename}" if e.filename else ""
        _error(f"{e.strerror or e}{where}: check the path and its permissions", 1)
    except KeyboardInterrupt:
        _error("interrupted", 130)
    except Exception:
        if shared.world.size == 1:
            raise
        traceback.print_exc()  # a bug on one rank of several: show where, and end them all
        _error("the traceback above stopped this rank", 1)
    finally:
        sys.stdout = stdout
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    sys.exit(status if isinstance(status, int) else 0)


def _quiet_stdout() -> None:
    """Point file descriptor 1 at /dev/null, so that flushing what is left at exit says nothing."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)


def _show_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
    """A warning as one line on stderr (from rank 0 only), in the command line's words."""
    if shared.world.root:
        print(f"warning: {' '.join(_flags(str(message)).split())}", file=sys.stderr)


# the library's arguments that the command line takes under another name
_FLAG_OF = {
    "hidden": "--layers",
    "overwrite": "--force",
    "data_name": "--data",
    "level": "--layer",  # explain's
    "sample": "--sample",
}


def _flags(message: str) -> str:
    """A library message names the library's arguments (``loss=cross_entropy``, ``samples must
    be``, ``pass data=``); the command line names its flags (``--loss cross_entropy``)."""
    message = message.replace("overwrite=True", "--force")
    names = {p.name for p in typer.main.get_command(app).commands["train"].params if p.name} | set(_FLAG_OF)
    for name in sorted(names, key=len, reverse=True):
        flag = _FLAG_OF.get(name, "--" + name.replace("_", "-"))
        message = re.sub(rf"(?<![\w.-]){name}=(?=[\w/.'\"-])", flag + " ", message)
        message = re.sub(rf"(?<![\w.-]){name}=", flag, message)
        message = re.sub(rf"(^|: )({name}) (?=must|needs|'|\S+ (does|is|lacks|has))", rf"\1{flag} ", message)
    return message


if __name__ == "__main__":
    main()
