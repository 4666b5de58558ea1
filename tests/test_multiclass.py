"""cvxnn.multiclass: difference networks and the predicted-class-margin attack."""

from __future__ import annotations

import numpy as np
import pytest

from cvxnn import ConvexReLUClassifier
from cvxnn.attacks import robust_accuracy
from cvxnn.exceptions import InvalidInputError
from cvxnn.multiclass import class_indices, classifier_robust_accuracy, difference_network, ovr_predict
from cvxnn.recovery import GatedReLUNetwork, ReLUNetwork


@pytest.fixture(scope="module")
def three():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 2))
    y = np.digitize(X[:, 0] + 0.3 * X[:, 1], [-0.4, 0.4]).astype(float)
    return X, y, ConvexReLUClassifier(n_patterns=6, random_state=0).fit(X, y)


def test_difference_network_is_the_difference(three):
    X, _, clf = three
    a, b = clf.networks_[0], clf.networks_[2]
    np.testing.assert_allclose(difference_network(a, b).predict(X), a.predict(X) - b.predict(X), atol=1e-12)
    rng = np.random.default_rng(1)
    g = [
        GatedReLUNetwork(gates=rng.standard_normal((3, 4)), U=rng.standard_normal((3, 4)), bias=True)
        for _ in "ab"
    ]
    np.testing.assert_allclose(
        difference_network(*g).predict(X), g[0].predict(X) - g[1].predict(X), atol=1e-12
    )
    with pytest.raises(InvalidInputError, match="one type"):
        difference_network(a, g[0])


def test_multiclass_robust_accuracy(three):
    X, y, clf = three
    index = class_indices(y, clf.classes_)
    np.testing.assert_array_equal(clf.classes_[ovr_predict(clf.networks_, X)], clf.predict(X))
    clean = classifier_robust_accuracy(clf.networks_, clf.classes_, X, y, eps=0.0)
    assert clean == pytest.approx(np.mean(clf.predict(X) == y))
    accs = [
        classifier_robust_accuracy(clf.networks_, clf.classes_, X, y, eps=e, random_state=0)
        for e in (0.1, 0.5)
    ]
    assert clean >= accs[0] >= accs[1] and accs[1] < clean  # a real attack on the class margin
    fgsm = classifier_robust_accuracy(clf.networks_, clf.classes_, X, y, eps=0.5, attack="fgsm")
    assert accs[1] <= fgsm <= clean  # PGD starts at the FGSM point of each competitor: never weaker
    assert index.tolist() == y.astype(int).tolist()
    with pytest.raises(InvalidInputError, match="not trained on"):
        classifier_robust_accuracy(clf.networks_, clf.classes_, X, y + 5, eps=0.1)


def test_binary_is_robust_accuracy_on_plus_minus_one():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 2))
    y = np.where(X[:, 0] > 0, "yes", "no")
    clf = ConvexReLUClassifier(n_patterns=4, random_state=0).fit(X, y)
    net: ReLUNetwork = clf.networks_[0]
    expected = robust_accuracy(net, X, np.where(y == "yes", 1.0, -1.0), eps=0.2, random_state=0)
    assert classifier_robust_accuracy([net], clf.classes_, X, y, eps=0.2, random_state=0) == expected
