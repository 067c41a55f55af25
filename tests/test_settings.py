import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnlab.declarations import as_dict, check, declaration, declarations, requirement
from nnlab.errors import ConfigError, SettingError
from nnlab.presets import load_preset, sections
from nnlab.presets import resolve as resolve_command
from nnlab.settings import ClassifierParams, ConfidenceSettings, MnistSettings, MoonsSettings

COMMANDS = sections()
NAMES = {settings_cls: name for name, settings_cls in COMMANDS.items()}


def resolve(settings_cls, preset, given):
    return resolve_command(NAMES[settings_cls], settings_cls, preset, given)


ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "preset.toml"
    path.write_text(text)
    return path


def test_precedence_given_over_file_over_default(tmp_path):
    preset = write(tmp_path, "[moons]\niters = 10\nlr = 0.25\n")
    config = resolve(MoonsSettings, preset, {"iters": 3, "lr": None})
    assert config.iters == 3  # given
    assert config.lr == 0.25  # file
    assert config.hidden == 50  # default


def test_dashed_keys_and_lists(tmp_path):
    preset = write(tmp_path, '[mnist]\nbatch-size = 100\nmodels = ["conv"]\n')
    config = resolve(MnistSettings, preset, {})
    assert config.batch_size == 100 and config.models == ("conv",)


def test_both_spellings_of_a_key_are_refused(tmp_path):
    preset = write(tmp_path, "[mnist]\nbatch-size = 100\nbatch_size = 200\n")
    with pytest.raises(ConfigError, match="both 'batch-size' and 'batch_size' set batch_size; keep one"):
        resolve(MnistSettings, preset, {})


def test_other_command_tables_are_ignored_but_validated(tmp_path):
    preset = write(tmp_path, "[moons]\niters = 4\n[mnist]\nepochs = 1\n")
    assert resolve(MnistSettings, preset, {}).epochs == 1
    assert resolve(ConfidenceSettings, preset, {}).top == 24
    bad = write(tmp_path, "[moons]\niters = 4\n[mnist]\nepochs = 0\n")
    with pytest.raises(SettingError, match=r"\[mnist\]: key 'epochs' must be an integer >= 1"):
        resolve(MoonsSettings, bad, {})


def test_checks_across_settings_wait_for_the_command(tmp_path):
    # snapshots beyond the preset's iters are fine when the command is given more iterations
    preset = write(tmp_path, "[moons]\nsnapshots = [0, 64]\n")
    assert resolve(MoonsSettings, preset, {"iters": 64}).snapshots == (0, 64)
    with pytest.raises(SettingError, match=r"key 'snapshots' must be iterations between 0 and iters \(32\), not 64"):
        resolve(MoonsSettings, preset, {})


def test_unknown_key_is_named_with_a_suggestion(tmp_path):
    preset = write(tmp_path, "[moons]\niter = 4\n")
    with pytest.raises(ConfigError, match=r"unknown key 'iter'.*did you mean 'iters'"):
        resolve(MoonsSettings, preset, {})


def test_unknown_section_is_named(tmp_path):
    with pytest.raises(ConfigError, match="unknown section 'moon'; did you mean 'moons'"):
        load_preset(write(tmp_path, "[moon]\niters = 4\n"), "moons")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[moons]\niters = "ten"\n', "key 'iters' must be int, not 'ten'"),
        ("[moons]\niters = true\n", "key 'iters' must be int"),
        ("[moons]\niters = 3.0\n", "key 'iters' must be int"),
        ("[moons]\nlr = [1]\n", "key 'lr' must be float"),
        ('[moons]\nsnapshots = "0,1"\n', "key 'snapshots' must be a list of int"),
        ("[moons]\nsnapshots = [[0]]\n", "key 'snapshots' must be a list of int"),
        ("[mnist]\nshuffle = 1\n", "key 'shuffle' must be bool"),
        ("[mnist]\nepochs = 0\n", r"preset.toml \[mnist\]: key 'epochs' must be an integer >= 1 and <= 1000, not 0"),
        ('[mnist]\nmodels = ["conv", "conv"]\n', "key 'models' must be a list without repeats"),
        ('[mnist]\noptimizer = "rmsprop"\n', "key 'optimizer' must be one of adam, adamw, sgd, not 'rmsprop'"),
        ("moons = 3\n", "'moons' must be a table"),
        ("[moons\n", "not valid TOML"),
        ("a = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply|not valid TOML"),
        (b"[moons]\n# \xff\n", "not UTF-8"),
    ],
)
def test_wrong_types_values_and_syntax_are_rejected_naming_the_key(tmp_path, text, message):
    path = tmp_path / "preset.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError, match=message):
        load_preset(path, "moons")


def test_preset_problems_with_the_file_itself(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_preset(tmp_path / "nope.toml", "moons")
    with pytest.raises(ConfigError, match="is a folder"):
        load_preset(tmp_path, "moons")
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"# " + b"x" * (2 << 20) + b"\n")
    with pytest.raises(ConfigError, match="larger than"):
        load_preset(huge, "moons")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"iters": -1}, "iters must be an integer >= 0 and <= 1000000, not -1"),
        ({"hidden": 0}, "hidden must be an integer >= 1"),
        ({"hidden": 100_000_000}, "hidden must be an integer >= 1 and <= 100000"),
        ({"samples": 1}, "samples must be an integer >= 2"),
        ({"lr": 0.0}, "lr must be a finite number > 0"),
        ({"lr": float("nan")}, "lr must be a finite number > 0"),
        ({"lr": float("inf")}, "lr must be a finite number > 0"),
        ({"noise": -0.1}, "noise must be a finite number >= 0"),
        ({"seed": 2**64}, "seed must be an integer >= 0 and <= 4294967295"),
        ({"snapshots": (0, 40)}, r"snapshots must be iterations between 0 and iters \(32\), not 40"),
        ({"snapshots": ()}, "snapshots must be a non-empty list of at most 32 integers >= 0"),
        ({"animate": True, "iters": 5000}, "iters must be at most 1000 with animate=True, not 5000"),
        ({"out": "a\udcffb"}, "out must be a path that is valid UTF-8"),
        ({"out": ""}, "out must be a path, not an empty text"),
    ],
)
def test_values_out_of_range_name_the_setting(values, message):
    with pytest.raises(SettingError, match=message) as error:
        check(MoonsSettings, values)
    assert isinstance(error.value, ValueError)  # as scikit-learn expects of a bad parameter


def test_unknown_setting_is_named():
    with pytest.raises(ConfigError, match="unknown setting 'iter'; did you mean 'iters'"):
        check(MoonsSettings, {"iter": 3})


def test_default_snapshots_follow_iters():
    assert MoonsSettings().snapshot_iterations() == (0, 1, 2, 4, 8, 16, 32)
    assert MoonsSettings(iters=10).snapshot_iterations() == (0, 1, 2, 4, 8, 10)
    assert MoonsSettings(iters=0).snapshot_iterations() == (0,)
    assert MoonsSettings(snapshots=(4, 0, 4)).snapshot_iterations() == (0, 4)


def test_as_dict_is_json_ready():
    data = as_dict(MnistSettings())
    assert data["models"] == ["linear", "full", "conv"]
    json.dumps(data)


def test_every_shipped_preset_loads():
    presets = sorted((ROOT / "configs").glob("*.toml"))
    assert presets
    for preset in presets:
        for settings_cls in COMMANDS.values():
            resolve(settings_cls, preset, {})


def test_declarations_describe_every_setting():
    epochs = declaration(MnistSettings, "epochs")
    assert (epochs.scalar, epochs.default, epochs.bounds, epochs.panel) == (int, 5, {"ge": 1, "le": 1000}, "Training")
    models = declaration(MnistSettings, "models")
    assert models.is_list and models.choices == ("linear", "full", "conv")
    assert requirement(models) == "a non-empty list of names, each one of linear, full, conv"
    assert requirement(declaration(MnistSettings, "momentum")) == "a finite number >= 0 and < 1"
    lr = declaration(MnistSettings, "lr")
    assert lr.optional and "linear 0.015" in lr.default_text
    # every command's settings and the classifier's parameters come from the same declarations
    training = {d.name for d in declarations(ClassifierParams)} - {"model"}
    assert training <= set(MnistSettings.model_fields) and training <= set(ConfidenceSettings.model_fields)
    assert all(d.help for settings_cls in COMMANDS.values() for d in declarations(settings_cls))


_toml_values = st.one_of(
    st.integers(-5, 5),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.text(max_size=5),
    st.lists(st.integers(-2, 40), max_size=3),
    st.lists(st.lists(st.integers(), max_size=2), max_size=2),
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["iters", "lr", "hidden", "snapshots", "noise", "animate", "seed", "out", "bogus"]),
        _toml_values,
        max_size=4,
    )
)
def test_preset_loader_only_ever_raises_config_errors(tmp_path_factory, table):
    lines = ["[moons]"]
    for key, value in table.items():
        text = json.dumps(value).replace("NaN", "nan").replace("Infinity", "inf")
        lines.append(f"{key} = {text}")
    path = tmp_path_factory.mktemp("cfg") / "p.toml"
    path.write_text("\n".join(lines) + "\n")
    try:
        config = resolve(MoonsSettings, path, {})
    except ConfigError:
        return
    assert config.iters == table.get("iters", 32)


def test_every_numeric_setting_has_an_upper_bound():
    for settings_cls in COMMANDS.values():
        for decl in declarations(settings_cls):
            if decl.scalar in (int, float) and not decl.is_list:
                assert {"le", "lt"} & set(decl.bounds), (settings_cls.__name__, decl.name)
            if decl.is_list:
                assert decl.choices or "max_length" in decl.length, (settings_cls.__name__, decl.name)
