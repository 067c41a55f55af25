import json
import os
import stat

import pytest

from nnlab.errors import OutputError
from nnlab.files import atomic_path, prepare_output_dir, write_json_atomic, write_text_atomic


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
