import numpy as np
import pytest

from dla_cnn.median import median_1d


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 20, 21, 600, 601])
def test_median_1d_equals_numpy_to_the_bit(n):
    rng = np.random.default_rng(n)
    for scale in (1e-3, 1.0, 1e4):
        x = rng.normal(size=n) * scale
        assert median_1d(x) == float(np.median(x))
        ties = np.round(x / scale, 1)  # repeated values
        assert median_1d(ties) == float(np.median(ties))


def test_median_1d_nan_and_empty():
    assert np.isnan(median_1d(np.array([1.0, np.nan, 3.0])))
    assert np.isnan(median_1d(np.array([1.0, 2.0, np.nan, 3.0])))
    assert np.isnan(median_1d(np.empty(0)))
    assert median_1d(np.array([[4.0, 1.0], [3.0, 2.0]])) == 2.5  # flattened, as np.median with no axis
