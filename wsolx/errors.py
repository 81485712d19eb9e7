"""User-facing errors and how the command line reports them.

Every problem a user can fix (a bad flag or setting, a missing or unreadable file, malformed
metadata, a corrupt checkpoint, a full disk, too little memory, an interruption) is reported by ``wsolx`` as ONE line
``wsolx <command>: error: <message>`` naming the file, flag or setting at fault, with exit status 2
(an interruption exits with ``128 + signal``). Anything else is a bug and keeps its traceback.

Library code raises a subclass of :class:`WsolxError` (``ConfigError``, ``CheckpointError``,
``MetadataError``, ``PretrainedWeightsError`` and the classes below all are), or lets an
:class:`OSError` that carries an ``errno`` propagate; :func:`report` does the rest::

    try:
        return command(args)
    except BaseException as exc:
        status = report("train", exc)
        if status is None:
            raise          # a genuine bug: show the traceback
        return status
"""

from __future__ import annotations

import errno
import os
import re
import signal
import sys
from typing import Any, Callable, Optional, TextIO

__all__ = [
    "WsolxError",
    "UsageError",
    "DataError",
    "TrainingDiverged",
    "RunInterrupted",
    "disk_write_error",
    "user_message",
    "exit_status",
    "report",
    "run_command",
]


class WsolxError(Exception):
    """A problem the user can fix; its message names the file, flag or setting at fault.

    Attributes:
        exit_status: status the command line exits with (2: bad input).
    """

    exit_status: int = 2


class UsageError(WsolxError, ValueError):
    """A combination of command-line flags that cannot work (e.g. filters that select nothing)."""


class DataError(WsolxError, ValueError):
    """An image or annotation file that cannot be used (unreadable, truncated, unsupported pixels)."""


class TrainingDiverged(WsolxError, FloatingPointError):
    """The training loss became NaN or infinite (usually a too large ``optim.lr``)."""


class RunInterrupted(WsolxError):
    """The run was stopped by a signal (SIGTERM, SIGINT); the message says how to resume.

    Attributes:
        signum: the signal number; the command line exits with ``128 + signum``.
    """

    def __init__(self, message: str, signum: int = signal.SIGTERM) -> None:
        super().__init__(message)
        self.signum = int(signum)
        self.exit_status = 128 + self.signum


def disk_write_error(exc: OSError, path: "os.PathLike[str] | str") -> OSError:
    """``exc`` (raised while writing ``path``) as an :class:`OSError` that names ``path``.

    A write to a full disk (``ENOSPC``, or ``EDQUOT`` for a quota) then reads "no space left on
    device (disk full) while writing PATH" on the command line instead of a bare errno.
    """
    code = exc.errno if exc.errno is not None else errno.EIO
    return OSError(code, exc.strerror or os.strerror(code), os.fspath(path))


_PLAIN_OS_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)

# "Caught X in DataLoader worker process 0.\nOriginal Traceback (most recent call last): ..."
_WORKER_RE = re.compile(r"Original Traceback \(most recent call last\):", re.M)


def _strip_worker_traceback(text: str) -> str:
    """The original message of an exception re-raised by a DataLoader worker (last line, without
    the ``module.Class: `` prefix)."""
    if not _WORKER_RE.search(text):
        return text
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    last = lines[-1].strip() if lines else text
    m = re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupted|Diverged|Warning)?: (.*)$", last)
    return m.group(2) if m else last


def _one_line(text: str) -> str:
    text = _strip_worker_traceback(text)
    parts = [p.strip() for p in text.strip().splitlines() if p.strip()]
    return "; ".join(parts) if parts else ""


def _os_message(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else None
    if exc.filename2 is not None:
        where = f"{exc.filename} -> {exc.filename2}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        target = f" while writing {where}" if where else ""
        return f"no space left on device (disk full){target}; free some space and run again"
    if exc.errno in (errno.EEXIST, errno.ENOTDIR) and where:
        return f"{where}: {exc.strerror} (a file stands where a folder is needed)"
    if exc.errno == errno.EROFS:
        return f"read-only file system: cannot write {where}" if where else "read-only file system"
    reason = exc.strerror or _one_line(str(exc))
    if where is None:
        return _one_line(str(exc)) or reason
    return f"{where}: {reason}"


def user_message(exc: BaseException) -> Optional[str]:
    """The one-line message of a user-facing error, or ``None`` when ``exc`` is a bug."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    if isinstance(exc, WsolxError):
        return _one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":  # host or torch.cuda
        first = (str(exc).strip().splitlines() or [""])[0]
        return f"out of memory ({first or type(exc).__name__}); reduce the sizes (e.g. --batch-size, --image-size)"
    if isinstance(exc, OSError):
        if exc.errno is not None:
            return _os_message(exc)
        if isinstance(exc, _PLAIN_OS_ERRORS):  # e.g. re-raised by a DataLoader worker
            return _one_line(str(exc))
    return None


def exit_status(exc: BaseException) -> int:
    """Exit status of the command line for a user-facing error (2, or ``128 + signal``)."""
    if isinstance(exc, KeyboardInterrupt):
        return 128 + signal.SIGINT
    return int(getattr(exc, "exit_status", 2))


def report(command: str, exc: BaseException, stream: Optional[TextIO] = None) -> Optional[int]:
    """Print ``wsolx <command>: error: <message>`` for a user-facing error and return the exit
    status; return ``None`` (printing nothing) for a bug, which the caller re-raises."""
    msg = user_message(exc)
    if msg is None:
        return None
    stream = stream if stream is not None else sys.stderr
    label = "interrupted" if isinstance(exc, (KeyboardInterrupt, RunInterrupted)) else "error"
    print(f"wsolx {command}: {label}: {msg}", file=stream)
    return exit_status(exc)


def run_command(command: str, func: Callable[[Any], Optional[int]], args: Any) -> int:
    """Run ``func(args)`` as the ``wsolx <command>`` entry point does and return its exit status.

    A closed output pipe (``wsolx ... | head``) is status 0; a user-facing error is one line from
    :func:`report` and its status; ``SystemExit`` and bugs (tracebacks) propagate unchanged.
    """
    try:
        return int(func(args) or 0)
    except BrokenPipeError:  # output piped into e.g. `head`
        return 0
    except BaseException as exc:  # noqa: BLE001 - user errors become one line, bugs keep their traceback
        if isinstance(exc, SystemExit):
            raise
        status = report(command, exc)
        if status is None:
            raise
        return status
