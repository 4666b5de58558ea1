"""Forged (checksum-valid) model files, bad save paths and leftovers of interrupted saves."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cvxnn import estimator
from cvxnn.exceptions import InvalidInputError, ModelFileError
from cvxnn.io import content_digest, load_estimator, load_model, load_network, save_estimator, save_network
from cvxnn.recovery import ReLUNetwork


def _forge(path, src, mutate):
    """Copy ``src`` to ``path`` with ``mutate(header, arrays)`` applied and a valid checksum."""
    with np.load(src, allow_pickle=False) as archive:
        header = json.loads(archive["__header__"].tobytes())
        arrays = {k: archive[k] for k in archive.files if not k.startswith("__")}
    header = mutate(header, arrays) or header
    if isinstance(header, dict) and "arrays" in header and isinstance(header["arrays"], dict):
        header["arrays"].update(
            {k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in arrays.items()}
        )
    header_bytes = header if isinstance(header, bytes) else json.dumps(header, sort_keys=True).encode()
    checksum = content_digest(header_bytes, arrays, sorted(arrays))
    np.savez(
        path,
        __header__=np.frombuffer(header_bytes, np.uint8),
        __checksum__=np.frombuffer(checksum.encode(), np.uint8),
        **arrays,
    )
    return path


@pytest.fixture
def net_file(tmp_path, rng):
    net = ReLUNetwork(U=rng.standard_normal((3, 4)), b=rng.standard_normal(4), alpha=rng.standard_normal(4))
    return save_network(net, tmp_path / "net.npz")


@pytest.fixture
def est_file(tmp_path, small_classification):
    X, y = small_classification
    clf = estimator.ConvexReLUClassifier(n_patterns=4, random_state=0).fit(X, y)
    return save_estimator(clf, tmp_path / "est.npz")


@pytest.fixture
def pipe_file(tmp_path, small_classification):
    X, y = small_classification
    pipe = make_pipeline(StandardScaler(), estimator.ConvexReLUClassifier(n_patterns=4, random_state=0))
    return save_estimator(pipe.fit(X, y), tmp_path / "pipe.npz")


def _attrs(h):
    return h["content"]["attributes"]["$dict"]


def _deep(h, a):
    h["metadata"] = "@"
    return json.dumps(h, sort_keys=True).replace('"@"', "[" * 100_000 + "]" * 100_000).encode()


NETWORK_FORGERIES = {
    "deeply nested JSON": _deep,
    "array table entry a list": lambda h, a: json.dumps({**h, "arrays": {k: [1, 2] for k in a}}).encode(),
    "network entry a list": lambda h, a: h.update({"content": {"$ReLUNetwork": [1, 2, 3]}}),
    "array reference a list": lambda h, a: h["content"]["$ReLUNetwork"].update({"U": [[1.0, 2.0]]}),
    "array name a list": lambda h, a: h["content"]["$ReLUNetwork"].update({"U": {"$array": ["a0"]}}),
    "object flag not a bool": lambda h, a: h["content"]["$ReLUNetwork"]["U"].update({"object": "yes"}),
    "extra network key": lambda h, a: h["content"]["$ReLUNetwork"].update({"x": 1}),
    "string array as weights": lambda h, a: a.update({"a0": np.array([["a"] * 4] * 3)}),
    "complex weights": lambda h, a: a.update({"a0": a["a0"] + 1j}),
    "bad $float": lambda h, a: h.update({"metadata": {"$float": "zero"}}),
    "bad $dict": lambda h, a: h.update({"metadata": {"$dict": [1, 2]}}),
    "header is a list": lambda h, a: json.dumps([h]).encode(),
}


@pytest.mark.parametrize("mutate", NETWORK_FORGERIES.values(), ids=NETWORK_FORGERIES.keys())
def test_forged_network_files_are_model_file_errors(tmp_path, net_file, mutate):
    bad = _forge(tmp_path / "bad.npz", net_file, mutate)
    with pytest.raises(ModelFileError):
        load_network(bad)


ESTIMATOR_FORGERIES = {
    "predict attribute": (lambda h, a: _attrs(h).append(["predict", "x"]), "not fitted attributes"),
    "dunder attribute": (lambda h, a: _attrs(h).append(["__class__", "x"]), "not fitted attributes"),
    "mistyped known attribute": (lambda h, a: _attrs(h).append(["n_features_in_", "3"]), "wrong type"),
    "networks_ not networks": (lambda h, a: _attrs(h).append(["networks_", [1, 2]]), "wrong type"),
    "bad loss hyperparameter": (
        lambda h, a: h["content"]["params"]["$dict"].append(["loss", "evil"]),
        "loss='evil' is not allowed",
    ),
    "network of other width": (lambda h, a: _attrs(h).append(["n_features_in_", 9]), "features"),
    "content a list": (lambda h, a: h.update({"content": [1]}), "not a dict"),
    "attributes a list": (lambda h, a: h["content"].update({"attributes": [["a", 1]]}), "dicts"),
}


@pytest.mark.parametrize("forgery", ESTIMATOR_FORGERIES.values(), ids=ESTIMATOR_FORGERIES.keys())
def test_forged_estimator_files_are_model_file_errors(tmp_path, est_file, forgery):
    mutate, match = forgery
    bad = _forge(tmp_path / "bad.npz", est_file, mutate)
    with pytest.raises(ModelFileError, match=match):
        load_estimator(bad)


def test_unknown_fitted_attribute_is_not_loaded(tmp_path, est_file):
    bad = _forge(tmp_path / "bad.npz", est_file, lambda h, a: _attrs(h).append(["future_", 1]))
    with pytest.warns(UserWarning, match="not known"):
        loaded = load_estimator(bad)
    assert not hasattr(loaded, "future_")


def _step(h, i):
    return h["content"]["steps"][i][1]


PIPELINE_FORGERIES = {
    "unknown step class": (lambda h, a: _step(h, 0).update({"class": "sklearn.decomposition:PCA"}), "PCA"),
    "estimator first": (lambda h, a: h["content"]["steps"].reverse(), "scalers ending in a cvxnn"),
    "step name not an identifier": (lambda h, a: h["content"]["steps"][0].__setitem__(0, "a b"), "steps"),
    "scaler mean of wrong length": (
        lambda h, a: a.update({dict(_step(h, 0)["attributes"]["$dict"])["mean_"]["$array"]: np.zeros(7)}),
        "shape",
    ),
    "memory parameter": (lambda h, a: h["content"].update({"memory": "/tmp"}), "exactly"),
}


@pytest.mark.parametrize("forgery", PIPELINE_FORGERIES.values(), ids=PIPELINE_FORGERIES.keys())
def test_forged_pipeline_files_are_model_file_errors(tmp_path, pipe_file, forgery):
    mutate, match = forgery
    bad = _forge(tmp_path / "bad.npz", pipe_file, mutate)
    with pytest.raises(ModelFileError, match=match):
        load_estimator(bad)


# --------------------------------------------------------------------------- save paths
@pytest.mark.parametrize(
    ("path", "match"),
    [
        (None, "file name"),
        (3.5, "str or os.PathLike"),
        ("", "empty"),
        ("net\x00.npz", "NUL byte"),
        ("n" * 300 + ".npz", "file name is 304 bytes long"),
    ],
)
def test_bad_save_paths_are_refused(tmp_path, monkeypatch, net_file, path, match):
    monkeypatch.chdir(tmp_path)
    net = load_network(net_file)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(InvalidInputError, match=match):
        save_network(net, path)
    with pytest.raises(InvalidInputError, match=match):
        net.save(path)
    assert sorted(os.listdir(tmp_path)) == before


def test_longest_allowed_name_saves(tmp_path, net_file):
    path = save_network(load_network(net_file), tmp_path / ("n" * 251 + ".npz"))
    assert load_network(path).n_neurons == 4


def test_next_save_removes_temporary_file_of_a_killed_save(tmp_path, net_file):
    """A save killed mid-write leaves its temporary file; the next save to that path removes it."""
    target = tmp_path / "model.npz"
    code = (
        "import os, numpy as np, cvxnn\n"
        "def die(fh, **kw):\n    fh.write(b'partial'); fh.flush(); os._exit(9)\n"
        "np.savez_compressed = die\n"
        f"cvxnn.save_network(cvxnn.load_network({str(net_file)!r}), {str(target)!r})\n"
    )
    rc = subprocess.run([sys.executable, "-c", code], check=False).returncode
    assert rc == 9
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1
    other = save_network(load_network(net_file), tmp_path / "other.npz")  # another path: kept
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == leftovers
    save_network(load_network(other), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz", "net.npz", "other.npz"]
    assert load_model(target).kind == "network"


@pytest.fixture
def searched_file(tmp_path, small_regression):
    X, y = small_regression
    options = {"warm_start_steps": 30, "max_rounds": 1, "n_fresh": 0}
    reg = estimator.ConvexReLURegressor(beta=0.5, n_patterns=3, random_state=0, search_options=options)
    reg.fit(X, y)
    assert reg.certificates_ is not None
    return save_estimator(reg, tmp_path / "searched.npz"), reg


def _cert(h):
    return dict(_attrs(h))["certificates_"][0]["$SearchCertificate"]


CERTIFICATE_FORGERIES = {
    "certificates_ not a list": (lambda h, a: _attrs(h).append(["certificates_", 3]), "wrong type"),
    "missing field": (lambda h, a: _cert(h).__delitem__("lower_bound"), "needs the keys"),
    "unknown field": (lambda h, a: _cert(h).update({"evil": 1.0}), "needs the keys"),
    "string bound": (lambda h, a: _cert(h).update({"lower_bound": "high"}), "wrong type"),
    "bool count": (lambda h, a: _cert(h).update({"n_fresh": True}), "wrong type"),
    "negative count": (lambda h, a: _cert(h).update({"n_fresh": -1}), "wrong type"),
    "float flag": (lambda h, a: _cert(h).update({"exact_dual_norm": 1.0}), "wrong type"),
    "body a list": (
        lambda h, a: dict(_attrs(h))["certificates_"][0].update({"$SearchCertificate": [1]}),
        "keys",
    ),
}


@pytest.mark.parametrize("forgery", CERTIFICATE_FORGERIES.values(), ids=CERTIFICATE_FORGERIES.keys())
def test_forged_certificates_are_model_file_errors(tmp_path, searched_file, forgery):
    mutate, match = forgery
    bad = _forge(tmp_path / "bad.npz", searched_file[0], mutate)
    with pytest.raises(ModelFileError, match=match):
        load_estimator(bad)


def test_search_certificates_round_trip(searched_file):
    import dataclasses

    path, reg = searched_file
    loaded = load_estimator(path)
    assert len(loaded.certificates_) == len(reg.certificates_)
    for got, want in zip(loaded.certificates_, reg.certificates_, strict=True):
        assert type(got) is type(want)
        np.testing.assert_equal(dataclasses.astuple(got), dataclasses.astuple(want))  # NaN == NaN
    assert loaded.certificates_[0].summary() == reg.certificates_[0].summary()
