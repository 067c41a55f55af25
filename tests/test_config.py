from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnlab.config import ConfidenceConfig, MnistConfig, MoonsConfig, as_dict, load_config_file, resolve
from nnlab.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "preset.toml"
    path.write_text(text)
    return path


def test_precedence_flag_over_file_over_default(tmp_path):
    preset = write(tmp_path, "[moons]\niters = 10\nlr = 0.25\n")
    config = resolve(MoonsConfig, preset, {"iters": 3, "lr": None})
    assert config.iters == 3  # flag
    assert config.lr == 0.25  # file
    assert config.hidden == 50  # default


def test_dashed_keys_and_lists(tmp_path):
    preset = write(tmp_path, '[mnist]\nbatch-size = 100\nmodels = ["conv"]\n')
    config = resolve(MnistConfig, preset, {})
    assert config.batch_size == 100 and config.models == ("conv",)


def test_other_command_tables_are_ignored_but_validated(tmp_path):
    preset = write(tmp_path, "[moons]\niters = 4\n[mnist]\nepochs = 1\n")
    assert resolve(MnistConfig, preset, {}).epochs == 1
    assert resolve(ConfidenceConfig, preset, {}).top == 24


def test_unknown_key_is_named_with_a_suggestion(tmp_path):
    preset = write(tmp_path, "[moons]\niter = 4\n")
    with pytest.raises(ConfigError, match=r"unknown key 'iter'.*did you mean 'iters'"):
        resolve(MoonsConfig, preset, {})


def test_unknown_section_is_named(tmp_path):
    with pytest.raises(ConfigError, match="unknown section 'moon'"):
        load_config_file(write(tmp_path, "[moon]\niters = 4\n"), "moons")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[moons]\niters = "ten"\n', "key 'iters' must be int"),
        ("[moons]\niters = true\n", "key 'iters' must be int"),
        ("[moons]\nlr = [1]\n", "key 'lr' must be float"),
        ('[moons]\nsnapshots = "0,1"\n', "key 'snapshots' must be a list of int"),
        ("[mnist]\nshuffle = 1\n", "key 'shuffle' must be bool"),
        ("moons = 3\n", "'moons' must be a table"),
        ("[moons\n", "not valid TOML"),
    ],
)
def test_wrong_types_and_syntax_are_rejected(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config_file(write(tmp_path, text), "moons")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config_file(tmp_path / "nope.toml", "moons")


@pytest.mark.parametrize(
    ("flags", "option"),
    [
        ({"iters": -1}, "--iters"),
        ({"hidden": 0}, "--hidden"),
        ({"samples": 1}, "--samples"),
        ({"lr": 0.0}, "--lr"),
        ({"lr": float("nan")}, "--lr"),
        ({"lr": float("inf")}, "--lr"),
        ({"noise": -0.1}, "--noise"),
        ({"snapshots": (0, 40)}, "--snapshots"),
    ],
)
def test_moons_values_out_of_range_name_the_option(flags, option):
    with pytest.raises(ConfigError, match=f"^{option} "):
        resolve(MoonsConfig, None, flags)


def test_default_snapshots_follow_iters():
    assert MoonsConfig().snapshot_iterations() == (0, 1, 2, 4, 8, 16, 32)
    assert MoonsConfig(iters=10).snapshot_iterations() == (0, 1, 2, 4, 8, 10)
    assert MoonsConfig(iters=0).snapshot_iterations() == (0,)
    assert MoonsConfig(snapshots=(4, 0, 4)).snapshot_iterations() == (0, 4)


def test_as_dict_is_json_ready():
    data = as_dict(MnistConfig())
    assert data["models"] == ["linear", "full", "conv"]


def test_every_shipped_preset_loads():
    presets = sorted((ROOT / "configs").glob("*.toml"))
    assert presets
    for preset in presets:
        for config_cls in (MoonsConfig, MnistConfig, ConfidenceConfig):
            resolve(config_cls, preset, {})


_toml_values = st.one_of(
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(max_size=5),
    st.lists(st.integers(0, 40), max_size=3),
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["iters", "lr", "hidden", "snapshots", "noise", "animate", "bogus"]),
        _toml_values,
        max_size=4,
    )
)
def test_config_loader_only_ever_raises_config_error(tmp_path_factory, table):
    import json

    lines = ["[moons]"] + [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    path = tmp_path_factory.mktemp("cfg") / "p.toml"
    path.write_text("\n".join(lines) + "\n")
    try:
        config = resolve(MoonsConfig, path, {})
    except ConfigError:
        return
    assert isinstance(config, MoonsConfig)
