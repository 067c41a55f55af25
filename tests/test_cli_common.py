"""What every command shares (cli.py): error lines and exit codes, flags in messages, help, info, index."""

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nnlab import cli, commandline
from nnlab.errors import ConfigError, Name, Preset, SettingError, TrainingDiverged

runner = CliRunner()


def test_unforeseen_error_is_short_and_saves_the_traceback(tmp_path, monkeypatch):
    def broken(config):
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr("nnlab.moons.run_moons", broken)
    result = runner.invoke(cli.app, ["moons", "--out", str(tmp_path)])
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.startswith("error: unexpected RuntimeError: something nobody foresaw (full traceback in ")
    assert "Traceback" not in result.output
    log = message.split("full traceback in ")[1].split(";")[0]
    assert "something nobody foresaw" in Path(log).read_text()
    os.remove(log)


def test_os_errors_and_memory_errors_are_one_line(tmp_path, monkeypatch):
    def too_long(config):
        raise OSError(36, "File name too long", "x" * 300)

    monkeypatch.setattr("nnlab.moons.run_moons", too_long)
    result = runner.invoke(cli.app, ["moons", "--out", str(tmp_path)])
    assert result.exit_code == 1 and result.stderr == f"error: {'x' * 300}: File name too long\n"

    def huge(config):
        raise MemoryError

    monkeypatch.setattr("nnlab.moons.run_moons", huge)
    result = runner.invoke(cli.app, ["moons", "--out", str(tmp_path)])
    assert result.exit_code == 1 and result.stderr.startswith("error: out of memory; choose smaller settings")


def test_settings_are_shown_as_flags_in_messages():
    assert commandline.flag(Name("batch_size")) == "--batch-size"
    assert (
        commandline.flag(Name("fallback", False)) == "--no-fallback"
        and commandline.flag(Name("animate", True)) == "--animate"
    )
    error = TrainingDiverged("the loss exploded; try a smaller ", Name("lr"), " (it was 10)")
    assert str(error) == "the loss exploded; try a smaller lr (it was 10)"  # the library speaks its own terms
    assert commandline.message(error) == "the loss exploded; try a smaller --lr (it was 10)"
    bad = SettingError("train_size", 0, ("an integer >= 1",))
    assert str(bad) == "train_size must be an integer >= 1, not 0"
    assert commandline.message(bad) == "--train-size 0: must be an integer >= 1"
    from_file = SettingError("epochs", 0, ("an integer >= 1",), preset=Preset("p.toml", "mnist", "epochs"))
    assert commandline.message(from_file) == "--config p.toml [mnist]: key 'epochs' must be an integer >= 1, not 0"
    assert commandline.message(ConfigError(Name("config"), " p.toml: no such file")) == "--config p.toml: no such file"


@pytest.mark.parametrize("name", ["a[mnist]b", "c[/]d", "[bold red]x"])
def test_user_text_is_never_rich_markup(tmp_path, name):
    folder = tmp_path / name
    result = runner.invoke(cli.app, ["mnist", "--data-dir", str(folder), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.stderr == f"error: --data-dir {folder}: no such folder; pass a folder holding the four IDX files\n"
    preset = tmp_path / "p.toml"
    preset.write_text(f'[mnist]\ndataset = "{name}"\n')
    result = runner.invoke(cli.app, ["mnist", "--config", str(preset), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "[mnist]: key 'dataset' must be one of" in result.stderr
    assert repr(name) in result.stderr


def test_a_second_run_on_the_same_folder_is_refused_naming_the_first(tmp_path):
    from nnlab.files import output_lock

    with output_lock(tmp_path, "nnlab mnist"):
        result = runner.invoke(cli.app, ["moons", "--iters", "1", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert f"error: {tmp_path} is in use by 'nnlab mnist' (process {os.getpid()}, since " in result.stderr
    assert "; wait for it to finish or pass --wait" in result.stderr
    assert not (tmp_path / "moons").exists()


def test_help_of_every_command_shows_an_example():
    for command in ("moons", "mnist", "confidence", "info", "index"):
        done = runner.invoke(cli.app, [command, "--help"])
        assert done.exit_code == 0 and "Example: nnlab" in done.stdout, command
    top = runner.invoke(cli.app, ["--help"])
    assert top.exit_code == 0 and all(c in top.stdout for c in ("moons", "mnist", "confidence", "info", "index"))
    assert runner.invoke(cli.app, []).exit_code == 0  # no arguments: the help


def test_each_command_is_one_line_in_the_list_and_no_default_is_shown_twice():
    import inspect

    for info in cli.app.registered_commands:
        summary = inspect.getdoc(info.callback).split("\n\n")[0]
        assert "\n" not in summary and len(summary) <= 100, info.callback.__name__  # nnlab --help's list
    shown = runner.invoke(cli.app, ["index", "--help"]).stdout
    assert "(default: outputs)" in shown and "[default:" not in shown


def test_info_reports_versions_and_datasets():
    done = runner.invoke(cli.app, ["info"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    for word in ("torch", "numpy", "pydantic", "device (auto)", "mnist-5k", "downloads", "off (NNLAB_OFFLINE is set)"):
        assert word in done.stdout, word


def test_unavailable_device_is_an_option_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = runner.invoke(cli.app, ["mnist", "--device", "cuda", "--dataset", "mnist-5k", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == "error: --device cuda: no CUDA device is available; use --device auto or cpu\n"


def test_index_command(tmp_path):
    assert runner.invoke(cli.app, ["moons", "--iters", "2", "--out", str(tmp_path)]).exit_code == 0
    listing = runner.invoke(cli.app, ["index", "--out", str(tmp_path)])
    assert listing.exit_code == 0 and "iteration_002.png" in listing.output and "index.html" in listing.output
    missing = runner.invoke(cli.app, ["index", "--out", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "no such folder" in missing.stderr


def test_a_signal_during_an_import_is_delivered_right_after_it(tmp_path, monkeypatch):
    import signal
    import sys

    from nnlab.errors import Stopped

    (tmp_path / "slow_module.py").write_text("import sys\nFRAME = sys._getframe()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import slow_module

    assert commandline._where_an_exception_is_lost(slow_module.FRAME)
    assert not commandline._where_an_exception_is_lost(sys._getframe())
    scheduled = []

    class Timer:
        def __init__(self, interval, function, args):
            scheduled.append((interval, function, args))

        def start(self):
            pass

    monkeypatch.setattr(commandline.threading, "Timer", Timer)
    commandline._stop(signal.SIGTERM, slow_module.FRAME)  # not raised inside the import...
    assert scheduled == [(0.05, commandline.os.kill, (commandline.os.getpid(), signal.SIGTERM))]  # ...but sent again
    with pytest.raises(Stopped) as stopped:
        commandline._stop(signal.SIGTERM, sys._getframe())
    assert stopped.value.terminated
    del sys.modules["slow_module"]


def test_a_signal_in_a_finalizer_is_delivered_again_not_lost():
    # A Dask future's __del__ was where a sweep's Ctrl-C went: Python prints "Exception ignored" and goes on.
    import gc
    import sys
    import weakref

    frames = []

    class Collected:
        def __del__(self):
            frames.append(sys._getframe())

    Collected()
    gc.collect()

    class Target:
        pass

    target = Target()
    weakref.finalize(target, lambda: frames.append(sys._getframe()))
    del target
    gc.collect()
    assert len(frames) == 2 and all(commandline._where_an_exception_is_lost(frame) for frame in frames)


def test_an_index_that_cannot_be_written_is_a_warning_not_a_failure(tmp_path, monkeypatch):
    import errno

    from nnlab import files

    real = files.write_text_atomic

    def full(path, text):
        if path.name == "index.html":
            raise files._write_failure(path, OSError(errno.ENOSPC, "No space left on device"))
        return real(path, text)

    monkeypatch.setattr("nnlab.index.write_text_atomic", full)
    result = runner.invoke(cli.app, ["moons", "--iters", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "no space left on the device" in result.stderr and "the results are complete" in result.stderr
    assert (tmp_path / "moons" / "metrics.json").is_file()
