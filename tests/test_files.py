import errno
import json
import os
import signal
import stat
import subprocess
import sys

import pytest

from nnlab.errors import OutputError
from nnlab.files import (
    FileKind,
    FileTooLargeError,
    NotAFileError,
    OutputSet,
    PathKind,
    atomic_path,
    file_kind,
    output_lock,
    prepare_output_dir,
    read_file,
    signals_held,
    why_not,
    write_json_atomic,
    write_text_atomic,
)


def test_atomic_write_replaces_completely_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.json"
    write_json_atomic(target, {"x": 1})
    write_json_atomic(target, {"x": 2})
    assert json.loads(target.read_text()) == {"x": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_failing_writer_leaves_the_old_file(tmp_path):
    target = tmp_path / "b.txt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["b.txt"]


def test_os_errors_become_output_errors(tmp_path):
    with pytest.raises(OutputError, match="cannot write"), atomic_path(tmp_path / "c.txt") as tmp:
        raise OSError(28, "No space left on device", str(tmp))
    assert not list(tmp_path.iterdir())


def test_nan_is_refused_in_json(tmp_path):
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "d.json", {"x": float("nan")})
    assert not list(tmp_path.iterdir())


def test_prepare_output_dir(tmp_path):
    assert prepare_output_dir(tmp_path / "x" / "y").is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match=r"^out .*: a part of this path is a file, not a folder; choose another out"):
        prepare_output_dir(tmp_path / "file" / "sub")


# ------------------------------------------------------------------------------------------- output sets


def _owned(name):
    return name.endswith(".txt")


def test_an_output_set_replaces_the_previous_one_as_a_whole(tmp_path):
    (tmp_path / "a.txt").write_text("old a")
    (tmp_path / "stale.txt").write_text("old, not in the new set")
    (tmp_path / "notes.md").write_text("the user's own file")
    with OutputSet(tmp_path, _owned) as outputs:
        outputs.path("a.txt").write_text("new a")
        outputs.write_json("b.txt", {"x": 1})
        assert (tmp_path / "a.txt").read_text() == "old a"  # nothing changes before the commit
        written = outputs.commit(last="a.txt")
    assert written == [tmp_path / "a.txt", tmp_path / "b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "notes.md"]
    assert (tmp_path / "a.txt").read_text() == "new a"


def test_a_failed_set_leaves_the_folder_as_it_was(tmp_path):
    (tmp_path / "a.txt").write_text("old a")
    with pytest.raises(RuntimeError), OutputSet(tmp_path, _owned) as outputs:
        outputs.path("a.txt").write_text("half")
        outputs.path("b.txt").write_text("half")
        raise RuntimeError("training failed")
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"] and (tmp_path / "a.txt").read_text() == "old a"


def test_a_full_disk_while_writing_a_set_is_a_clean_error(tmp_path):
    (tmp_path / "a.txt").write_text("old a")

    def full(handle):
        handle.write(b"part")
        raise OSError(errno.ENOSPC, "No space left on device")

    message = r"cannot write .*a\.txt: no space left on the device; free some space"
    with pytest.raises(OutputError, match=message), OutputSet(tmp_path, _owned) as outputs:
        outputs.write_bytes("a.txt", full)
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"] and (tmp_path / "a.txt").read_text() == "old a"


def test_kept_files_stay_in_the_set_and_temporary_files_of_killed_runs_go(tmp_path):
    (tmp_path / "conv.txt").write_text("kept as is")
    (tmp_path / ".conv.abc123.tmp.txt").write_text("left by a killed run")
    with OutputSet(tmp_path, _owned) as outputs:
        assert not (tmp_path / ".conv.abc123.tmp.txt").exists()
        outputs.keep("conv.txt")
        outputs.path("new.txt").write_text("new")
        assert outputs.names == ["conv.txt", "new.txt"]
        outputs.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conv.txt", "new.txt"]


def test_signals_are_held_back_during_a_commit():
    delivered = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: delivered.append(signum))
    try:
        with signals_held():
            signal.raise_signal(signal.SIGTERM)
            assert delivered == []
        assert delivered == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


# ----------------------------------------------------------------------------------------------- locking


def test_the_lock_names_its_holder_and_is_released(tmp_path):
    message = r"is in use by 'nnlab mnist' \(process \d+, since .*\); wait for it"
    with output_lock(tmp_path, "nnlab mnist"), pytest.raises(OutputError, match=message), output_lock(tmp_path, "x"):
        pass
    with output_lock(tmp_path, "nnlab moons"):  # free again
        assert "nnlab moons" in (tmp_path / ".nnlab.lock.json").read_text()
    assert not (tmp_path / ".nnlab.lock.json").exists()


def test_waiting_for_the_lock(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom nnlab.files import output_lock\n"
            f"with output_lock({str(tmp_path)!r}, 'nnlab mnist'):\n"
            "    print('held', flush=True)\n    sys.stdin.readline()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        waiting = []

        def release(holder_text):
            waiting.append(holder_text)
            holder.stdin.write("\n")
            holder.stdin.flush()

        with output_lock(tmp_path, "nnlab moons", wait=True, on_wait=release):
            assert waiting and waiting[0].startswith("'nnlab mnist' (process ")
    finally:
        holder.kill()
        holder.wait()


def test_file_kinds(tmp_path):
    (tmp_path / "f").write_text("")
    os.mkfifo(tmp_path / "p")
    assert [file_kind(tmp_path / n).kind for n in ("f", "p", "none")] == [
        FileKind.FILE,
        FileKind.FIFO,
        FileKind.MISSING,
    ]
    assert file_kind(tmp_path).is_folder and file_kind(tmp_path / "f" / "x").missing
    too_long = file_kind(tmp_path / ("x" * 300))
    assert too_long == PathKind(FileKind.UNREADABLE, "File name too long")
    assert why_not(too_long, "file") == "cannot be looked at (File name too long)"
    assert why_not(PathKind(FileKind.FIFO), "file") == "is a FIFO, not a file"
    assert why_not(PathKind(FileKind.MISSING), "folder") == "no such folder"
    assert why_not(file_kind(tmp_path / "f" / "x"), "file") == "no such file (a part of the path is a file)"


def test_one_reader_refuses_what_is_not_a_file_at_once_and_bounds_the_rest(tmp_path):
    os.mkfifo(tmp_path / "fifo")  # opening it for reading would wait for a writer for ever
    with pytest.raises(NotAFileError, match="is a FIFO, not a file"):
        read_file(tmp_path / "fifo", 10)
    with pytest.raises(NotAFileError, match="is a folder, not a file"):
        read_file(tmp_path, 10)
    with pytest.raises(NotAFileError, match="is a device, not a file"):
        read_file("/dev/zero", 10)  # never ends
    (tmp_path / "f").write_bytes(b"x" * 11)
    assert read_file(tmp_path / "f", 11) == b"x" * 11
    with pytest.raises(FileTooLargeError, match="larger than 10 bytes"):
        read_file(tmp_path / "f", 10)
    with pytest.raises(FileNotFoundError):
        read_file(tmp_path / "none", 10)


def test_a_stop_while_a_file_is_created_leaves_no_temporary(tmp_path, monkeypatch):
    # The stop lands just after the temporary file is created: it is delivered once the file is noted for removal.
    from nnlab import files

    real = files.temporary_path

    def then_stopped(path):
        created = real(path)
        signal.raise_signal(signal.SIGINT)
        return created

    monkeypatch.setattr(files, "temporary_path", then_stopped)
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(tmp_path / "record.json", {"a": 1})
    with pytest.raises(KeyboardInterrupt), OutputSet(tmp_path, _owned) as outputs:
        outputs.path("new.txt")
    assert list(tmp_path.iterdir()) == []
