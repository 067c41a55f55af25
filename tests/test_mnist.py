import numpy as np
from idx_helpers import write_idx_folder

from nnlab.data import load_dataset
from nnlab.mnist import ModelResult, confusion_matrix, run_mnist
from nnlab.settings import MnistSettings


def test_confusion_matrix_counts():
    matrix = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), classes=3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [0, 0, 1]])


def test_run_mnist_trains_every_model_and_measures_the_labs_way(tmp_path):
    write_idx_folder(tmp_path, n_train=200, n_test=50)
    dataset = load_dataset("mnist", tmp_path)
    config = MnistSettings(epochs=2, models=("linear", "conv"), eval_size=30, train_size=150, device="cpu")
    events, finished = [], []
    result = run_mnist(config, dataset, progress=lambda m, e: events.append((m, e)), on_model_done=finished.append)
    assert list(result.models) == ["linear", "conv"] == [m.name for m in finished]
    conv = result.models["conv"]
    predictions = conv.classifier.predict(dataset.test_images)
    assert conv.test_accuracy == np.mean(predictions[:30] == dataset.test_labels[:30])
    assert conv.test_accuracy_all == np.mean(predictions == dataset.test_labels)
    train_predictions = conv.classifier.predict(dataset.train_images[:30])
    assert conv.train_accuracy == np.mean(train_predictions == dataset.train_labels[:30])
    assert conv.confusion.sum() == 50 and conv.parameters == 33482
    assert len(conv.classifier.history_) == 2 and "validation_accuracy" in conv.classifier.history_[0]
    assert {m for m, _ in events} == {"linear", "conv"}
    assert events[-1][1].seen == events[-1][1].total == 150
    assert result.train_size == 150 and (result.eval_train, result.eval_test) == (30, 30)


def test_lab_line_is_the_notebooks_format():
    model = ModelResult("conv", None, 0.98765, 0.5, 0.5, 1.0, 0, np.zeros((10, 10)))  # type: ignore[arg-type]
    assert model.lab_line() == "      conv train: 0.988 test: 0.500"
