"""Every file nnlab writes goes through here: atomically, in consistent sets, under a lock on the output folder;
and every file it reads back, bounded and only if it is a regular file.

- :func:`atomic_path` writes one file under a temporary name and renames it into place once complete.
- :class:`OutputSet` writes all the files of one run of a command that way, but renames them into place together
  (:meth:`OutputSet.commit`), with Ctrl-C and SIGTERM held back, and then removes the previous run's files that
  the new set does not have. Until then the folder holds the previous run's files untouched; a failed or
  interrupted run leaves no temporary file behind.
- :func:`output_lock` keeps two runs from writing into one output folder at the same time.
- :func:`open_file` and :func:`read_file` refuse at once what is not a regular file (a FIFO would block the reader
  for ever, a device never ends) and bound how much is read.
"""

from __future__ import annotations

import contextlib
import datetime
import enum
import errno
import json
import os
import re
import signal
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any, BinaryIO

from nnlab.errors import Name, OutputError

LOCK_NAME = ".nnlab.lock"
LOCK_HOLDER_NAME = ".nnlab.lock.json"
# Temporary files are hidden and carry ".tmp" before their suffix: ".conv.x1y2z3.tmp.pt".
_TEMPORARY = re.compile(r"^\..+\.tmp(\.[A-Za-z0-9]+)?$")


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates files readable only by their owner; outputs get the usual permissions instead.
_FILE_MODE = 0o666 & ~_current_umask()


def describe_os_error(exc: OSError) -> str:
    """The reason of an OSError in a few words ("No space left on device")."""
    return exc.strerror or str(exc) or type(exc).__name__


def prepare_output_dir(path: Path, setting: str = "out") -> Path:
    """Create ``path`` (and parents) and check that it is a writable folder, or raise OutputError naming the
    setting it came from."""
    path = Path(path)
    where = (Name(setting), f" {path}")
    advice = ("; choose another ", Name(setting))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(*where, ": is a file, not a folder", *advice) from None
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise OutputError(*where, ": a part of this path is a file, not a folder", *advice) from None
        raise OutputError(*where, f": cannot create the folder ({describe_os_error(exc)})", *advice) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(*where, ": the folder is not writable", *advice)
    return path


def _write_failure(path: Path, exc: OSError) -> OutputError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(
            f"cannot write {path}: no space left on the device; free some space or choose another ", Name("out")
        )
    return OutputError(f"cannot write {path}: {describe_os_error(exc)}; choose another ", Name("out"))


def temporary_path(path: Path) -> Path:
    """A new, empty, hidden temporary file beside ``path`` that keeps its suffix (writers infer the format from
    it)."""
    path = Path(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as exc:
        raise _write_failure(path, exc) from None
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def _removed_on_failure(temporaries: list[Path], path: Path) -> Iterator[None]:
    try:
        yield
    except BaseException as exc:
        for tmp in temporaries:
            with contextlib.suppress(OSError):
                tmp.unlink()
        if isinstance(exc, OSError):  # a full disk, a folder removed mid-run, ...
            raise _write_failure(path, exc) from None
        raise


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on failure (Ctrl-C
    included) removed."""
    path = Path(path)
    created: list[Path] = []
    with _removed_on_failure(created, path):
        with signals_held():  # a stop between creating the file and noting it here would leave it behind
            created.append(temporary_path(path))
        yield created[0]
        os.chmod(created[0], _FILE_MODE)
        os.replace(created[0], path)


def write_atomic(path: Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(file)`` on a temporary binary file and rename it onto ``path`` once complete."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        write(handle)
    return Path(path)


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))


def json_text(data: Any) -> str:
    """Indented, strict JSON (no NaN or infinity)."""
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def write_json_atomic(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    return write_text_atomic(path, json_text(data))


# ------------------------------------------------------------------------------------------ signals held

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_signals_handled_by(handler: Callable[[int, FrameType | None], Any]) -> Iterator[None]:
    """Ctrl-C and SIGTERM call ``handler`` for the duration, then the previous handlers are back. Only the main
    thread can change signal handlers; elsewhere this changes nothing."""
    try:
        previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold back Ctrl-C and SIGTERM for the duration; one that arrived meanwhile is delivered right after.

    Used around the few renames that put a set of outputs in place, so that a signal never leaves half a set.
    Only the main thread can change signal handlers; elsewhere this holds nothing back.
    """
    received: list[int] = []
    try:
        with stop_signals_handled_by(lambda signum, frame: received.append(signum)):
            yield
    finally:
        if received:
            signal.raise_signal(received[0])


# ------------------------------------------------------------------------------------------- output sets


def remove_temporary_files(folder: Path) -> None:
    """Remove temporary files that a killed run (SIGKILL, power loss) left in ``folder``."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if _TEMPORARY.match(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


class OutputSet:
    """The files one run of a command writes into ``folder``, put in place together.

    ``path(name)`` gives the temporary file to write ``name`` into; :meth:`commit` renames every written file into
    place and then removes the files of earlier runs that ``owned`` recognises (by name) and the new set lacks.
    Leaving the ``with`` block by an exception, or :meth:`discard`, removes the temporary files instead and leaves
    the folder as it was. Meant to be used under :func:`output_lock`.
    """

    def __init__(self, folder: Path, owned: Callable[[str], bool]) -> None:
        self.folder = prepare_output_dir(folder)
        self.owned = owned
        self._staged: dict[str, Path] = {}
        self._kept: list[str] = []
        remove_temporary_files(self.folder)

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, *rest: Any) -> None:
        if kind is None:
            return
        staged = {str(tmp): name for name, tmp in self._staged.items()}
        self.discard()
        if isinstance(error, OSError) and not isinstance(error, FileNotFoundError):  # a full disk while a plot is saved
            name = staged.get(str(error.filename), Path(str(error.filename or "")).name)
            raise _write_failure(self.final(name) if name else self.folder, error) from None

    def final(self, name: str) -> Path:
        """Where ``name`` will be once the set is committed."""
        return self.folder / name

    def path(self, name: str) -> Path:
        """A temporary file to write ``name`` into (created empty, replaced if asked for again)."""
        if name in self._staged:
            self._staged.pop(name).unlink(missing_ok=True)
        with signals_held():  # noted before a stop can land, so that discard() removes it
            self._staged[name] = temporary_path(self.final(name))
        return self._staged[name]

    @contextlib.contextmanager
    def writing(self, name: str) -> Iterator[Path]:
        """``path(name)``, turning a failed write (a full disk) into OutputError and forgetting the file."""
        tmp = self.path(name)
        try:
            with _removed_on_failure([tmp], self.final(name)):
                yield tmp
        except BaseException:
            self._staged.pop(name, None)
            raise

    def write_bytes(self, name: str, write: Callable[[IO[bytes]], Any]) -> Path:
        """Write ``name`` with ``write(file)``; returns its final path."""
        with self.writing(name) as tmp, open(tmp, "wb") as handle:
            write(handle)
        return self.final(name)

    def write_json(self, name: str, data: Any) -> Path:
        """Write ``data`` as strict JSON into ``name``; returns its final path."""
        text = json_text(data).encode("utf-8")
        return self.write_bytes(name, lambda handle: handle.write(text))

    def listing(self, last: str) -> list[str]:
        """The final paths of the set so far and of ``last``, the file about to describe it, as text."""
        return [str(self.final(name)) for name in [*self.names, last]]

    @property
    def names(self) -> list[str]:
        """The names of the set so far: files kept, then files written, in order."""
        return [*self._kept, *self._staged]

    def keep(self, name: str) -> Path:
        """Make the file ``name`` already in the folder part of the new set, unchanged; returns its path."""
        if name not in self._kept:
            self._kept.append(name)
        return self.final(name)

    def staged(self, name: str) -> Path:
        """The temporary file ``name`` was written into, until the set is committed."""
        return self._staged[name]

    def take(self, name: str) -> Path:
        """Remove ``name`` from this set and return its temporary file, which the caller now owns."""
        return self._staged.pop(name)

    def commit(self, last: str | None = None) -> list[Path]:
        """Put every written file in place (``last`` after the others: the file that describes the set), then
        remove the earlier runs' files the set does not have. Returns the final paths, in the order written."""
        order = [name for name in self._staged if name != last] + ([last] if last in self._staged else [])
        stale = [
            entry.name
            for entry in os.scandir(self.folder)
            if entry.name not in self._staged
            and entry.name not in self._kept
            and self.owned(entry.name)
            and entry.is_file(follow_symlinks=False)
        ]
        with signals_held():
            for name in order:
                os.chmod(self._staged[name], _FILE_MODE)
                os.replace(self._staged[name], self.final(name))
            for name in stale:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.folder / name)
        written = [self.final(name) for name in [*self._kept, *self._staged]]
        self._staged.clear()
        return written

    def discard(self) -> None:
        """Remove every temporary file of this set; the folder is as it was."""
        for tmp in self._staged.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._staged.clear()


# ------------------------------------------------------------------------------------------------ locking


def _holder_text(folder: Path) -> str:
    try:
        holder = json.loads(read_file(folder / LOCK_HOLDER_NAME, 4096))
        return f"'{holder['command']}' (process {int(holder['pid'])}, since {holder['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another nnlab run"


@contextlib.contextmanager
def output_lock(
    folder: Path, command: str, wait: bool = False, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the lock on the output folder ``folder`` for the duration.

    When another run holds it: raise OutputError naming that run, or with ``wait`` call ``on_wait(holder)`` and
    wait until it is free. The lock is released when the process ends, however it ends.
    """
    from filelock import FileLock, Timeout

    folder = prepare_output_dir(folder)
    lock = FileLock(folder / LOCK_NAME)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _holder_text(folder)
        if not wait:
            raise OutputError(
                f"{folder} is in use by {holder}; wait for it to finish or pass ", Name("wait", True)
            ) from None
        if on_wait is not None:
            on_wait(holder)
        lock.acquire()
    except OSError as exc:
        raise OutputError(f"{folder}: cannot take the lock on the folder ({describe_os_error(exc)})") from None
    try:
        since = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        with contextlib.suppress(OutputError):  # who holds the lock is a courtesy to other runs, not a result
            write_json_atomic(folder / LOCK_HOLDER_NAME, {"command": command, "pid": os.getpid(), "since": since})
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(folder / LOCK_HOLDER_NAME)
        lock.release()


class FileKind(enum.Enum):
    """What is at a path."""

    FILE = "file"
    FOLDER = "folder"
    MISSING = "missing"
    FIFO = "FIFO"
    SOCKET = "socket"
    DEVICE = "device"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class PathKind:
    """What :func:`file_kind` found at a path, and for a missing or unreadable one, why."""

    kind: FileKind
    detail: str = ""  # "a part of the path is a file", or the system's reason it cannot be looked at

    @property
    def is_file(self) -> bool:
        return self.kind is FileKind.FILE

    @property
    def is_folder(self) -> bool:
        return self.kind is FileKind.FOLDER

    @property
    def missing(self) -> bool:
        return self.kind is FileKind.MISSING


_KINDS = (
    (stat.S_ISREG, FileKind.FILE),
    (stat.S_ISDIR, FileKind.FOLDER),
    (stat.S_ISFIFO, FileKind.FIFO),
    (stat.S_ISSOCK, FileKind.SOCKET),
)


def file_kind(path: Path) -> PathKind:
    """What is at ``path`` (a file, a folder, nothing, a FIFO...), without following into it or opening it; a path
    that cannot be looked at (a name too long, no permission) says why."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return PathKind(FileKind.MISSING)
    except NotADirectoryError:
        return PathKind(FileKind.MISSING, "a part of the path is a file")
    except OSError as exc:
        return PathKind(FileKind.UNREADABLE, describe_os_error(exc))
    return PathKind(_kind_of(mode))


def _kind_of(mode: int) -> FileKind:
    return next((kind for test, kind in _KINDS if test(mode)), FileKind.DEVICE)


class NotAFileError(OSError):
    """What was opened for reading is not a regular file: a FIFO, a device, a socket or a folder."""


class FileTooLargeError(OSError):
    """A file is larger than its reader allows."""


def open_file(path: Path) -> BinaryIO:
    """Open the regular file at ``path`` for reading. Anything else there is refused at once, never read: opening a
    FIFO waits for a writer for ever, and a device never ends. Every reader of nnlab's inputs and output folder
    opens files here. Raises FileNotFoundError, :class:`NotAFileError` (its strerror says what is there) or another
    OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # O_NONBLOCK: a FIFO opens without a writer
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotAFileError(errno.EINVAL, f"is a {_kind_of(mode).value}, not a file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_file(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at ``path`` (see :func:`open_file`), at most ``limit`` of them: a larger file
    raises :class:`FileTooLargeError` after reading ``limit + 1`` bytes, so memory stays bounded."""
    with open_file(path) as handle:
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise FileTooLargeError(errno.EFBIG, f"larger than {limit} bytes", str(path))
    return raw


def why_not(kind: PathKind, wanted: str) -> str:
    """Why a path of :func:`file_kind` ``kind`` is not the ``wanted`` 'file' or 'folder', in a few words."""
    if kind.missing:
        return f"no such {wanted}" + (f" ({kind.detail})" if kind.detail else "")
    if kind.kind is FileKind.UNREADABLE:
        return f"cannot be looked at ({kind.detail})"
    return f"is a {kind.kind.value}, not a {wanted}"
