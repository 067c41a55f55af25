"""scikit-learn's own estimator checks, run on NNClassifier.

The checks feed made-up data of a few features (2 to 10 columns). NNClassifier takes 28x28 images (784 pixels)
only, so the checks that fit or predict on such data cannot apply to it: they are listed below with that reason,
and must fail (strict). Every other check must pass. To still run what those checks test (binary decision
functions, pickling, idempotent fits, order and subset invariance, read-only memory maps, ...), they are run a
second time on a test-only adapter that lays any few features out as an image.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from nnlab.classifier import NNClassifier

pytestmark = pytest.mark.slow  # scikit-learn's estimator checks: hundreds of small fits: left out of make test-fast

NEEDS_IMAGES = "fits or predicts on data of a few features; NNClassifier takes 28x28 images (784 pixels) only"
CANNOT_APPLY = {
    name: NEEDS_IMAGES
    for name in [
        "check_fit_score_takes_y",
        "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_n_features_in_after_fitting",
        "check_estimators_dtypes",
        "check_dtype_object",
        "check_pipeline_consistency",
        "check_estimators_nan_inf",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_classifier_data_not_an_array",
        "check_classifiers_one_label",
        "check_classifiers_classes",
        "check_classifiers_train",
        "check_supervised_y_2d",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_fit2d_1sample",
        "check_fit2d_1feature",
        "check_dict_unchanged",
        "check_fit_idempotent",
        "check_fit_check_is_fitted",
        "check_n_features_in",
        "check_fit2d_predict1d",
    ]
}
CANNOT_APPLY["check_decision_proba_consistency"] = (
    "fits on negative values although the estimator's tags say positive_only; pixels cannot be negative"
)


class FeaturesAsImage(NNClassifier):
    """Test-only: NNClassifier on any data of up to 784 features, each squashed into [0, 1] by a logistic function
    and laid out as the first pixels of an image whose other pixels are 0.5 (what a feature of 0 becomes)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = False
        return tags

    @staticmethod
    def _as_images(X):
        from sklearn.utils.validation import check_array

        X = check_array(X, dtype=np.float64)
        images = np.full((len(X), 784), 0.5, dtype=np.float32)
        images[:, : X.shape[1]] = 1.0 / (1.0 + np.exp(-np.clip(X, -50, 50)))
        return images

    def fit(self, X, y, **kwargs):
        super().fit(self._as_images(X), y, **kwargs)
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def logits(self, X):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        array = np.asarray(X)
        if array.ndim == 2 and array.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {array.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )
        return super().logits(self._as_images(X))


# scikit-learn's own NaN-target check warns inside scikit-learn as it casts the NaN targets
NAN_CAST = "ignore:invalid value encountered in cast:RuntimeWarning"


@pytest.mark.filterwarnings(NAN_CAST)
@parametrize_with_checks(
    [NNClassifier(model="linear", epochs=1, device="cpu")],
    expected_failed_checks=lambda estimator: CANNOT_APPLY,
    xfail_strict=True,
)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


@pytest.mark.filterwarnings(NAN_CAST)
@parametrize_with_checks([FeaturesAsImage(model="linear", epochs=3, device="cpu")])
def test_scikit_learn_checks_behind_the_image_shape(estimator, check):
    check(estimator)
