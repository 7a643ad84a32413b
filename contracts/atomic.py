"""Write outputs to a temporary path and rename, so a failure never leaves half a result.

Temporary names carry the writer's PID (`.NAME.PID.RANDOM.tmp`): a writer that was killed outright
(SIGKILL, power cut) leaves its temporary behind, and the next writer of the same output removes
temporaries whose PID is no longer alive. While a writer runs, an optional watcher (the CLI installs
`cimsdk.janitor`) is told of each temporary, so it is removed the moment the writer dies.

The final step of `output_dir` holds an exclusive lock on the parent folder, so two writers of one
output folder replace it one after the other: the result is one writer's complete output, never a
mix of both.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from cimcontracts.errors import UserError

_watchers: list[tuple[Callable[[Path], None], Callable[[Path], None]]] = []


def add_temp_watcher(watch: Callable[[Path], None], forget: Callable[[Path], None]) -> None:
    """Call `watch(path)` when a temporary is made and `forget(path)` once it is gone or renamed."""
    if (watch, forget) not in _watchers:
        _watchers.append((watch, forget))


def _watch(path: Path) -> None:
    for watch, _ in _watchers:
        watch(path)


def _forget(path: Path) -> None:
    for _, forget in _watchers:
        forget(path)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_stale(parent: Path, name: str) -> None:
    """Remove temporaries of `name` left by writers that no longer run."""
    prefix = f".{name}."
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
                continue
            pid = entry.name[len(prefix) :].split(".", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        entry.unlink()


def _prepare_parent(path: Path, what: str) -> None:
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UserError(f"cannot write {what} {path}: {_first_file(parent)} is a file, not a folder; choose another path") from None
    except NotADirectoryError:
        raise UserError(f"cannot write {what} {path}: {_first_file(parent)} is a file, not a folder; choose another path") from None
    except OSError as exc:
        raise UserError(f"cannot create folder {parent} for {what} {path}: {exc.strerror}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {what} {path}: folder {parent} is not writable; choose another path")


def _first_file(path: Path) -> Path:
    """The ancestor of `path` that exists but is not a folder (why mkdir failed)."""
    for p in [*reversed(path.parents), path]:
        if p.exists() and not p.is_dir():
            return p
    return path


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    if path.is_dir():
        raise UserError(f"cannot write file {path}: it is a folder; give a file name")
    _prepare_parent(path, "file")
    _sweep_stale(path.parent, path.name)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    except OSError as exc:
        raise UserError(f"cannot write file {path}: {exc.strerror}") from None
    _watch(Path(tmp))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR):
            raise UserError(f"cannot write file {path}: {exc.strerror}") from None
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        _forget(Path(tmp))


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode())


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def output_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces `path`, on failure it vanishes."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"cannot write output folder {path}: a file of that name exists; choose another -o")
    _prepare_parent(path, "output folder")
    _sweep_stale(path.parent, path.name)
    tmp: Path | None = None
    try:  # an interrupt may come at any moment from here on: the temporary is removed whatever happens
        try:
            tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"))
        except OSError as exc:
            raise UserError(f"cannot write output folder {path}: {exc.strerror}") from None
        _watch(tmp)
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; the result should look like any folder the user makes
        yield tmp
        with _locked(path.parent):
            _replace(tmp, path)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            _forget(tmp)


def _replace(tmp: Path, path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise UserError(f"cannot write output folder {path}: a file of that name appeared meanwhile; choose another -o")
    if path.is_dir():
        # Keep files we did not write (a user's notes); replace ours.
        for item in tmp.iterdir():
            dest = path / item.name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            os.replace(item, dest)
    else:
        os.replace(tmp, path)
