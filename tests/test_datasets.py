"""Data loading: scikit-learn sets, CSV, npz, and clear errors on bad files."""

from __future__ import annotations

import numpy as np
import pytest

from cvxnn import InvalidInputError
from cvxnn._validation import check_X, check_y
from cvxnn.datasets import load_dataset, train_test_split_scaled


def test_digits_2v8_is_binary_and_scaled():
    data = load_dataset("sklearn:digits-2v8")
    assert data.classification
    assert set(np.unique(data.y)) == {-1.0, 1.0}
    assert data.X.shape[1] == 64 and 0 <= data.X.min() and data.X.max() <= 1


def test_csv_with_header_and_npz(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,label\n1,2,0\n3,4,1\n5,6,1\n")
    data = load_dataset(str(csv))
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(data.y, [0, 1, 1])
    npz = tmp_path / "d.npz"
    np.savez(npz, X=data.X, y=data.y)
    np.testing.assert_array_equal(load_dataset(str(npz)).X, data.X)


@pytest.mark.parametrize(
    ("content", "match"),
    [("1,2\n3,x\n", "Cannot read CSV"), ("1\n2\n", "two columns"), ("1,nan\n2,3\n", "non-finite")],
)
def test_bad_csv(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InvalidInputError, match=match):
        load_dataset(str(path))


def test_bad_specs(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_dataset(str(tmp_path / "missing.csv"))
    with pytest.raises(InvalidInputError, match="available"):
        load_dataset("sklearn:mnist")
    npz = tmp_path / "no_y.npz"
    np.savez(npz, X=np.ones((2, 2)))
    with pytest.raises(InvalidInputError, match="'y'"):
        load_dataset(str(npz))
    other = tmp_path / "data.txt"
    other.write_text("1,2\n")
    with pytest.raises(InvalidInputError, match="Unsupported"):
        load_dataset(str(other))


def test_split_standardizes_with_training_statistics():
    X_tr, X_te, y_tr, _y_te = train_test_split_scaled(load_dataset("sklearn:breast_cancer"))
    np.testing.assert_allclose(X_tr.mean(axis=0), 0, atol=1e-12)
    assert X_tr.shape[0] + X_te.shape[0] == 569 and y_tr.size == X_tr.shape[0]


def test_csv_with_byte_order_mark_keeps_its_first_row(tmp_path):
    rows = "1.5,2,1\n3,4,-1\n5,6,1\n"
    plain = tmp_path / "plain.csv"
    plain.write_text(rows)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + rows.encode())
    header = tmp_path / "header.csv"
    header.write_bytes(b"\xef\xbb\xbf" + b"a,b,label\n" + rows.encode())
    for path in (plain, bom, header):
        data = load_dataset(str(path))
        assert data.X.shape == (3, 2) and data.X[0, 0] == 1.5 and data.y.tolist() == [1.0, -1.0, 1.0]


def test_complex_data_is_refused(tmp_path):
    X = np.ones((4, 2)) + 1j
    np.savez(tmp_path / "c.npz", X=X, y=np.array([1.0, -1.0, 1.0, -1.0]))
    with pytest.raises(InvalidInputError, match="complex"):
        load_dataset(str(tmp_path / "c.npz"))
    np.savez(tmp_path / "cy.npz", X=X.real, y=np.array([1, -1, 1, -1]) + 0j)
    with pytest.raises(InvalidInputError, match="complex"):
        load_dataset(str(tmp_path / "cy.npz"))
    with pytest.raises(InvalidInputError, match="X holds complex"):
        check_X(X)
    with pytest.raises(InvalidInputError, match="y holds complex"):
        check_y([1 + 0j, 2.0], 2)
    with pytest.raises(InvalidInputError, match="y holds complex"):
        check_y(np.array([1 + 0j, 2.0], dtype=object), 2)


def test_string_labels_in_npz_are_refused(tmp_path):
    np.savez(tmp_path / "s.npz", X=np.ones((2, 2)), y=np.array(["a", "b"]))
    with pytest.raises(InvalidInputError, match="'y' has dtype <U1; y must be numeric"):
        load_dataset(str(tmp_path / "s.npz"))
