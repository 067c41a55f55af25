import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score

from nnlab.classifier import NNClassifier, auto_batch_size, one_cycle, prepare_images
from nnlab.errors import CheckpointError, TrainingDiverged


def synthetic(n: int = 300, seed: int = 0):
    """Learnable digits: class k lights a bar at a position depending on k."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    rng.shuffle(y)
    X = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(y):
        X[i, 2 + 2 * k : 4 + 2 * k, 4:24] = 255
    return X, y


@pytest.fixture(scope="module")
def data():
    return synthetic()


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return NNClassifier(model="conv", epochs=3, device="cpu").fit(X, y)


def test_fit_learns_and_reports_history(fitted, data):
    X, y = data
    assert fitted.score(X, y) > 0.9
    assert [row["epoch"] for row in fitted.history_] == [1, 2, 3]
    assert fitted.history_[-1]["loss"] < fitted.history_[0]["loss"]
    assert list(fitted.classes_) == list(range(10))


def test_probabilities_and_logits(fitted, data):
    X, _ = data
    proba = fitted.predict_proba(X[:50])
    assert proba.shape == (50, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    logits = fitted.decision_function(X[:50])
    np.testing.assert_allclose(
        fitted.predict_log_proba(X[:50]),
        torch.log_softmax(torch.tensor(logits, dtype=torch.float64), 1).numpy(),
        atol=1e-12,
    )
    np.testing.assert_array_equal(fitted.predict(X[:50]), logits.argmax(1))


@pytest.mark.parametrize(
    "transform",
    [
        lambda X: X.astype(np.float32) / 255.0,
        lambda X: X.reshape(len(X), 784),
        lambda X: X[:, None],
        lambda X: torch.tensor(X),
        lambda X: X.astype(np.float64).reshape(len(X), 784) / 255.0,
    ],
)
def test_input_forms_give_the_same_predictions(fitted, data, transform):
    X, _ = data
    np.testing.assert_allclose(fitted.decision_function(transform(X[:40])), fitted.decision_function(X[:40]), atol=1e-5)


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.zeros((3, 27, 28), np.uint8), "shape"),
        (np.full((3, 28, 28), 2.0), r"\[0, 1\]"),
        (np.zeros((3, 28, 28), bool), "dtype"),
    ],
)
def test_bad_inputs(fitted, X, message):
    with pytest.raises(ValueError, match=message):
        fitted.predict(X)


def test_scaling_to_minus_one_one():
    prepared = prepare_images(np.array([[[0] * 28] * 28, [[255] * 28] * 28], dtype=np.uint8))
    assert prepared.scaled().min() == -1.0 and prepared.scaled().max() == 1.0
    assert prepare_images(np.full((1, 784), 0.5)).scaled().abs().max() == 0.0


def test_string_labels_round_trip(data):
    X, y = data
    names = np.array(list("abcdefghij"))[y]
    clf = NNClassifier(model="linear", epochs=2, device="cpu").fit(X, names)
    assert set(clf.predict(X)) <= set("abcdefghij")
    assert clf.score(X, names) > 0.8


def test_same_seed_same_numbers_on_cpu(data):
    X, y = data
    a = NNClassifier(model="full", epochs=1, seed=3, device="cpu").fit(X, y).decision_function(X[:20])
    b = NNClassifier(model="full", epochs=1, seed=3, device="cpu").fit(X, y).decision_function(X[:20])
    c = NNClassifier(model="full", epochs=1, seed=4, device="cpu").fit(X, y).decision_function(X[:20])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sklearn_clone_cross_val_and_grid_search(data):
    X, y = data
    estimator = NNClassifier(model="linear", epochs=2, lr=0.02, device="cpu")
    copy = clone(estimator)
    assert copy.get_params() == estimator.get_params() and not hasattr(copy, "module_")
    scores = cross_val_score(estimator, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.6
    search = GridSearchCV(estimator, {"lr": [0.005, 0.02]}, cv=2).fit(X, y)
    assert search.best_params_["lr"] in (0.005, 0.02)


def test_not_fitted():
    with pytest.raises(NotFittedError):
        NNClassifier().predict(np.zeros((1, 28, 28), np.uint8))


@pytest.mark.parametrize("lr", [1e9, 1e6])
def test_divergence_is_reported_with_lr_advice(data, lr):
    X, y = data
    with pytest.raises(
        TrainingDiverged,
        match=r"the full model's loss (became non-finite|exploded to .*) in epoch 1; "
        r"try a smaller lr \(it was",
    ):
        NNClassifier(model="full", epochs=2, optimizer="sgd", lr=lr, schedule="constant", device="cpu").fit(X, y)


def test_auto_batch_size():
    assert auto_batch_size(100) == 32
    assert auto_batch_size(4000) == 32
    assert auto_batch_size(60000) == 512
    assert auto_batch_size(10**7) == 512


def test_save_and_load_round_trip(fitted, data, tmp_path):
    X, _ = data
    path = fitted.save(tmp_path / "conv.pt")
    loaded = NNClassifier.load(path, model="conv")
    np.testing.assert_array_equal(loaded.decision_function(X[:30]), fitted.decision_function(X[:30]))
    assert loaded.get_params()["epochs"] == 3 and loaded.history_ == fitted.history_
    assert not list(tmp_path.glob(".*tmp*"))


def test_checkpoint_for_another_architecture(fitted, tmp_path):
    path = fitted.save(tmp_path / "conv.pt")
    with pytest.raises(CheckpointError, match="holds the 'conv' model, not 'full'"):
        NNClassifier.load(path, model="full")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["params"]["model"] = "full"
    torch.save(checkpoint, tmp_path / "lying.pt")
    with pytest.raises(CheckpointError, match=r"the 'full' architecture needs tensor 1\.weight, which is missing"):
        NNClassifier.load(tmp_path / "lying.pt")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a readable weights file"),
        (b"garbage" * 100, "not a readable weights file"),
    ],
)
def test_corrupt_checkpoints(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as error:
        NNClassifier.load(path)
    assert str(path) in str(error.value)


def test_truncated_and_foreign_checkpoints(fitted, tmp_path):
    good = fitted.save(tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="not a readable weights file"):
        NNClassifier.load(tmp_path / "cut.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an nnlab classifier checkpoint"):
        NNClassifier.load(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no such file"):
        NNClassifier.load(tmp_path / "missing.pt")


class _Exploit:
    def __reduce__(self):
        return (print, ("this code must never run",))


def test_loading_never_executes_code(tmp_path, capsys):
    torch.save({"format": "nnlab-classifier", "payload": _Exploit()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not a readable weights file"):
        NNClassifier.load(tmp_path / "evil.pt")
    assert "must never run" not in capsys.readouterr().out


def test_freeze_first_keeps_the_first_layer_fixed(data):
    X, y = data
    initial = NNClassifier(model="conv", epochs=1, device="cpu", freeze_first=0.0)
    initial.fit(X[:10], y[:10])  # just to build the same initial weights as below
    first_before = initial.module_[0].weight.detach().clone()
    frozen = NNClassifier(model="conv", epochs=2, device="cpu", freeze_first=0.0).fit(X, y)
    torch.testing.assert_close(frozen.module_[0].weight, first_before)
    assert not torch.equal(frozen.module_[3].weight, initial.module_[3].weight)
    assert frozen.freeze_first_ == 0.0
    trained = NNClassifier(model="conv", epochs=2, device="cpu", freeze_first=1.0).fit(X, y)
    assert not torch.equal(trained.module_[0].weight, first_before)


def test_default_freeze_is_per_model(data):
    X, y = data
    assert NNClassifier(model="conv", epochs=1, device="cpu").fit(X, y).freeze_first_ == 0.5
    assert NNClassifier(model="full", epochs=1, device="cpu").fit(X, y).freeze_first_ == 1.0
    with pytest.raises(ValueError, match=r"^freeze_first must be a finite number >= 0 and <= 1, not 1.5$"):
        NNClassifier(freeze_first=1.5).fit(X, y)


# ------------------------------------------------------------------------------------------ hostile input


@pytest.mark.parametrize(
    ("n", "batch_size", "epochs"),
    [(1, 1, 1), (2, 1, 1), (3, 1, 1), (4, 1, 1), (4, 2, 2), (5, 1, 1), (8, 2, 1), (4000, 1000, 1)],
)
def test_any_number_of_steps_trains(n, batch_size, epochs):
    X, y = synthetic(n)
    clf = NNClassifier(model="linear", epochs=epochs, batch_size=batch_size, device="cpu").fit(X, y)
    assert len(clf.history_) == epochs and all(np.isfinite(row["loss"]) for row in clf.history_)


def test_one_cycle_is_torchs_schedule_where_that_works():
    total = 100
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    reference = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=1.0, total_steps=total, pct_start=0.25, cycle_momentum=False
    )
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        reference.step()
    np.testing.assert_allclose([one_cycle(step, total) for step in range(total)], rates, rtol=1e-12)
    for steps in range(1, 12):
        factors = [one_cycle(step, steps) for step in range(steps + 1)]
        assert all(0 < factor <= 1 for factor in factors) and max(factors) > 0.5


def test_empty_and_non_finite_input_is_refused(data):
    X, y = data
    clf = NNClassifier(model="linear", epochs=1, device="cpu")
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        clf.fit(X[:0], y[:0])
    for bad in (np.nan, np.inf):
        images = X[:20].astype(np.float32) / 255
        images[3, 4, 5] = bad
        with pytest.raises(ValueError, match=r"NaN|infinity"):
            clf.fit(images, y[:20])
    fitted = NNClassifier(model="linear", epochs=1, device="cpu").fit(X, y)
    images = X[:5].astype(np.float64) / 255
    images[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fitted.predict(images)  # never silently class 0
    with pytest.raises(ValueError, match="Negative values"):
        fitted.predict(-images[1:])
    with pytest.raises(TypeError, match=r"[Ss]parse"):
        import scipy.sparse

        fitted.predict(scipy.sparse.csr_matrix(X[:3].reshape(3, -1)))


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # scikit-learn, on NaN labels
def test_labels_are_checked_as_scikit_learn_does(data):
    X, y = data
    clf = NNClassifier(model="linear", epochs=1, device="cpu")
    for bad, message in (
        (y + 0.5, "Unknown label type"),
        (np.where(y == 3, np.nan, y), "NaN"),
        (np.where(y == 3, np.inf, y), "infinity"),
        (None, "requires y to be passed"),
        (y[:-1], "299 labels for 300 images"),
    ):
        with pytest.raises(ValueError, match=message):
            clf.fit(X, bad)
    from sklearn.exceptions import DataConversionWarning

    with pytest.warns(DataConversionWarning):
        column = NNClassifier(model="linear", epochs=1, device="cpu").fit(X, y.reshape(-1, 1))
    assert column.classes_.tolist() == list(range(10))


def test_two_classes_give_one_decision_score_per_image():
    from sklearn.model_selection import cross_val_score

    X, y = synthetic(200)
    y = (y >= 5).astype(int)
    clf = NNClassifier(model="linear", epochs=3, device="cpu").fit(X, y)
    scores = clf.decision_function(X[:7])
    assert scores.shape == (7,)
    np.testing.assert_array_equal(scores > 0, clf.predict(X[:7]) == 1)
    auc = cross_val_score(NNClassifier(model="linear", epochs=3, device="cpu"), X, y, cv=2, scoring="roc_auc")
    assert np.isfinite(auc).all() and auc.min() > 0.8


def test_non_finite_weights_are_never_saved(fitted, tmp_path):
    import copy

    broken = copy.deepcopy(fitted)
    with torch.no_grad():
        broken.module_[3].weight[0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match=r"weight 3\.weight is not finite; nothing was saved"):
        broken.save(tmp_path / "nan.pt")
    assert list(tmp_path.iterdir()) == []


def test_library_errors_speak_parameters_not_flags(data):
    X, y = data
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0 and <= 1e\+09, not -1$"):
        NNClassifier(lr=-1).fit(X, y)
    with pytest.raises(ValueError, match=r"^model must be one of linear, full, conv, not 'cnn'$"):
        NNClassifier(model="cnn").fit(X, y)


def test_numpy_parameters_from_a_search_are_accepted(data):
    X, y = data
    clf = NNClassifier(model="linear", epochs=np.int64(1), lr=np.float64(0.01), device="cpu").fit(X, y)
    assert clf.lr_ == 0.01


def test_init_is_written_out_and_matches_the_declared_parameters_exactly():
    import inspect

    from nnlab.declarations import declarations
    from nnlab.settings import ClassifierParams

    parameters = list(inspect.signature(NNClassifier.__init__).parameters.values())[1:]
    declared = list(declarations(ClassifierParams))
    assert [p.name for p in parameters] == [d.name for d in declared]
    assert [p.default for p in parameters] == [d.default for d in declared]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters)
    assert "def __init__(" in inspect.getsource(NNClassifier)  # readable by people, IDEs and type checkers
    given = {d.name: d.default for d in declared}
    assert NNClassifier(**given).get_params() == given


def test_learned_nothing_flags_chance_with_a_uniform_loss_and_nothing_else():
    import math

    from nnlab.classifier import learned_nothing

    labels = np.repeat(np.arange(10), [300] + [100] * 9)  # the most common class: 300 of 1200, 25%
    uniform = math.log(10)
    found = learned_nothing("conv", 0.25, labels, uniform, 10, 0.06)
    assert found is not None and "right on 25.0% of its training images" in str(found)
    assert "most common class (25.0%)" in str(found) and "(it was 0.06)" in str(found)
    margin = 3.09 * math.sqrt(0.25 * 0.75 / 1200)
    assert learned_nothing("conv", 0.25 + margin * 0.99, labels, uniform, 10, 0.06) is not None
    assert learned_nothing("conv", 0.25 + margin * 1.01, labels, uniform, 10, 0.06) is None  # beyond chance
    assert learned_nothing("conv", 0.1, labels, 0.89 * uniform, 10, 0.06) is None  # its loss fell: it is learning
    assert learned_nothing("conv", 0.1, labels[:0], uniform, 10, 0.06) is None
