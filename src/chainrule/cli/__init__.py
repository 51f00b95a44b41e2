"""The command line: ``chainrule train | evaluate | predict | gradcheck | explain | export |
playground``.

Each command is one function of the Typer app ``app`` (another command is one more function).
`main` runs the app and turns every problem with the user's input (a missing file, a bad
option value, data that cannot be learned from) into one line on stderr and a non-zero exit
status, never a traceback.
"""

from __future__ import annotations

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
    try:
        status = command.main(args=argv, prog_name="chainrule", standalone_mode=False)
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
            print(ctx.get_help())
            sys.exit(2)
        where = ctx.command_path if ctx is not None else "chainrule"
        _error(f"{e.format_message()} (see: {where} --help)", 2)  # type: ignore[attr-defined]
    except _USER_ERRORS as e:
        _error(_flags(str(e)), 1)
    except BrokenPipeError:  # the reader went away (chainrule ... | head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
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
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    sys.exit(status if isinstance(status, int) else 0)


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
