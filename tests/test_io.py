"""Persistence: exact round trips, refusal of damaged or foreign files, atomic writes."""

from __future__ import annotations

import json
import os
import struct
import zipfile

import numpy as np
import pytest

from cvxnn import estimator
from cvxnn.exceptions import InvalidInputError, ModelFileError
from cvxnn.io import (
    FORMAT_NAME,
    FORMAT_VERSION,
    content_digest,
    load_estimator,
    load_model,
    load_network,
    save_estimator,
    save_model,
    save_network,
)
from cvxnn.recovery import GatedReLUNetwork, ReLUNetwork


def _bits(a: np.ndarray) -> bytes:
    return a.dtype.str.encode() + str(a.shape).encode() + np.ascontiguousarray(a).tobytes()


@pytest.fixture
def relu_net(rng):
    U = rng.standard_normal((4, 6))
    U[0, 0] = -0.0  # signed zero, a subnormal and extremes must survive bit for bit
    U[1, 1] = 5e-324
    U[2, 2] = 1e300
    return ReLUNetwork(U=U, b=rng.standard_normal(6), alpha=rng.standard_normal(6) * 1e-300)


@pytest.fixture
def gated_net(rng):
    return GatedReLUNetwork(gates=rng.standard_normal((4, 5)), U=rng.standard_normal((4, 5)), bias=True)


# --------------------------------------------------------------------------- round trips
def test_relu_network_round_trip_is_bitwise(tmp_path, relu_net, rng):
    path = save_network(relu_net, tmp_path / "net.npz")
    loaded = load_network(path)
    assert type(loaded) is ReLUNetwork
    for name in ("U", "b", "alpha"):
        assert _bits(getattr(loaded, name)) == _bits(getattr(relu_net, name))
    assert np.signbit(loaded.U[0, 0]) and loaded.U[1, 1] == 5e-324
    X = rng.standard_normal((7, 4))
    assert np.array_equal(loaded.predict(X), relu_net.predict(X))


def test_gated_network_round_trip_keeps_bias(tmp_path, gated_net, rng):
    loaded = load_network(save_network(gated_net, tmp_path / "g.npz"))
    assert type(loaded) is GatedReLUNetwork and loaded.bias is True
    assert _bits(loaded.gates) == _bits(gated_net.gates) and _bits(loaded.U) == _bits(gated_net.U)
    X = rng.standard_normal((9, 3))
    assert np.array_equal(loaded.predict(X), gated_net.predict(X))


def test_path_is_used_exactly_and_file_is_plain_npz(tmp_path, relu_net):
    path = tmp_path / "model.cvxnn"  # no .npz appended
    save_network(relu_net, str(path))
    assert path.is_file() and not (tmp_path / "model.cvxnn.npz").exists()
    with np.load(path, allow_pickle=False) as archive:  # readable without cvxnn, no pickle
        header = json.loads(archive["__header__"].tobytes())
        assert header["format"] == FORMAT_NAME and header["format_version"] == FORMAT_VERSION
        assert header["kind"] == "network" and header["class"] == "ReLUNetwork"
        ref = header["content"]["$ReLUNetwork"]["U"]["$array"]
        assert np.array_equal(archive[ref], relu_net.U)


def test_metadata_round_trip_keeps_types(tmp_path, relu_net):
    meta = {
        "mean": np.array([1.5, -2.0]),
        "labels": np.array(["cat", "dog"], dtype=object),
        "ints": np.arange(3, dtype=np.int32),
        "flags": np.array([True, False]),
        "scalar": np.float32(0.25),
        "n": 7,
        "x": 0.1,
        "specials": (float("inf"), float("-inf"), None, "s"),
        "nested": {"a": [1, 2.5, "three"], "b": {"c": True}},
    }
    saved = load_model(save_network(relu_net, tmp_path / "m.npz", metadata=meta))
    m = saved.metadata
    assert m["mean"].dtype == np.float64 and np.array_equal(m["mean"], meta["mean"])
    assert m["labels"].dtype == object and m["labels"].tolist() == ["cat", "dog"]
    assert m["ints"].dtype == np.int32 and m["flags"].dtype == bool
    assert type(m["scalar"]) is np.float32 and m["scalar"] == np.float32(0.25)
    assert m["n"] == 7 and type(m["n"]) is int and m["x"] == 0.1
    assert m["specials"] == (float("inf"), float("-inf"), None, "s")
    assert m["nested"] == {"a": [1, 2.5, "three"], "b": {"c": True}}
    nan = load_model(save_network(relu_net, tmp_path / "n.npz", metadata={"v": float("nan")})).metadata["v"]
    assert np.isnan(nan)


def test_list_of_networks(tmp_path, relu_net, gated_net):
    path = save_model([relu_net, gated_net], tmp_path / "nets.npz")
    saved = load_model(path)
    assert saved.kind == "networks" and len(saved.obj) == 2
    assert _bits(saved.obj[0].U) == _bits(relu_net.U) and saved.obj[1].bias is True
    with pytest.raises(ModelFileError, match="several networks"):
        load_network(path)


def test_unsupported_values_are_refused_on_save(tmp_path, relu_net):
    with pytest.raises(InvalidInputError, match="save_network saves"):
        save_network({"U": relu_net.U}, tmp_path / "x.npz")
    with pytest.raises(InvalidInputError, match="metadata"):
        save_network(relu_net, tmp_path / "x.npz", metadata={"f": print})
    with pytest.raises(InvalidInputError, match="metadata"):
        save_network(relu_net, tmp_path / "x.npz", metadata={1: "non-string key"})
    with pytest.raises(InvalidInputError, match="does not exist"):
        save_network(relu_net, tmp_path / "missing-dir" / "x.npz")
    with pytest.raises(InvalidInputError, match="directory"):
        save_network(relu_net, tmp_path)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- refusal
def _rewrite(path, src, mutate_header=None, mutate_arrays=None, fix_checksum=True):
    """Copy ``src`` to ``path`` with a modified header/arrays (checksum recomputed or not)."""
    with np.load(src, allow_pickle=False) as archive:
        header = json.loads(archive["__header__"].tobytes())
        arrays = {k: archive[k] for k in archive.files if not k.startswith("__")}
        checksum = archive["__checksum__"].tobytes().decode()
    if mutate_header:
        mutate_header(header)
    if mutate_arrays:
        mutate_arrays(arrays)
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    if fix_checksum:
        checksum = content_digest(header_bytes, arrays, sorted(arrays))
    np.savez(
        path,
        __header__=np.frombuffer(header_bytes, np.uint8),
        __checksum__=np.frombuffer(checksum.encode(), np.uint8),
        **arrays,
    )
    return path


def test_refuses_missing_and_foreign_files(tmp_path, relu_net):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_network(tmp_path / "nope.npz")
    text = tmp_path / "text.npz"
    text.write_text("U,b,alpha\n1,2,3\n")
    with pytest.raises(ModelFileError, match=r"not an \.npz"):
        load_network(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, X=np.ones((2, 2)), y=np.ones(2))
    with pytest.raises(ModelFileError, match="not a cvxnn model file"):
        load_network(plain)
    with pytest.raises(ModelFileError, match="not a regular file"):
        load_network(tmp_path)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99])
def test_refuses_truncated_file(tmp_path, relu_net, keep):
    path = save_network(relu_net, tmp_path / "net.npz")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelFileError, match=r"truncated|corrupted|not an \.npz"):
        load_network(path)


def test_refuses_flipped_bytes_anywhere(tmp_path, rng):
    net = ReLUNetwork(
        U=rng.standard_normal((20, 30)), b=rng.standard_normal(30), alpha=rng.standard_normal(30)
    )
    path = save_network(net, tmp_path / "net.npz")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:  # flip one byte inside each member's stored data
        infos = zf.infolist()
    offsets = []
    for info in infos:  # local header: 30 bytes, then the name and the local extra field
        name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
        offsets.append(info.header_offset + 30 + name_len + extra_len + info.compress_size // 2)
    for offset in offsets:
        bad = bytearray(data)
        bad[offset] ^= 0xFF
        path.write_bytes(bytes(bad))
        with pytest.raises(ModelFileError):
            load_network(path)


def test_checksum_catches_consistent_looking_edits(tmp_path, relu_net):
    src = save_network(relu_net, tmp_path / "net.npz")

    def edit_array(arrays):
        key = sorted(arrays)[0]
        arrays[key] = arrays[key].copy()
        arrays[key].flat[0] += 1.0

    bad = _rewrite(tmp_path / "bad.npz", src, mutate_arrays=edit_array, fix_checksum=False)
    with pytest.raises(ModelFileError, match="checksum"):
        load_network(bad)
    bad = _rewrite(
        tmp_path / "bad2.npz", src, mutate_header=lambda h: h.update(cvxnn_version="9.9"), fix_checksum=False
    )
    with pytest.raises(ModelFileError, match="checksum"):
        load_network(bad)
    # the same edit with a recomputed checksum is accepted: the check is on content, not on luck
    ok = _rewrite(tmp_path / "ok.npz", src, mutate_header=lambda h: h.update(cvxnn_version="9.9"))
    assert _bits(load_network(ok).U) == _bits(relu_net.U)


def test_refuses_other_format_and_version(tmp_path, relu_net):
    src = save_network(relu_net, tmp_path / "net.npz")
    newer = _rewrite(tmp_path / "v2.npz", src, mutate_header=lambda h: h.update(format_version=2))
    with pytest.raises(ModelFileError, match=r"version 2.*reads version 1.*newer"):
        load_network(newer)
    other = _rewrite(tmp_path / "o.npz", src, mutate_header=lambda h: h.update(format="other-model"))
    with pytest.raises(ModelFileError, match="not a cvxnn-model file"):
        load_network(other)
    unknown = _rewrite(tmp_path / "u.npz", src, mutate_header=lambda h: h.update(kind="tensor"))
    with pytest.raises(ModelFileError, match="unknown object kind"):
        load_model(unknown)


def test_refuses_inconsistent_content(tmp_path, relu_net):
    src = save_network(relu_net, tmp_path / "net.npz")

    def shrink_b(arrays):  # b loses one entry: shapes disagree with U
        for key, arr in arrays.items():
            if arr.shape == relu_net.b.shape and np.array_equal(arr, relu_net.b):
                arrays[key] = arr[:-1]

    bad = _rewrite(tmp_path / "bad.npz", src, mutate_arrays=shrink_b)
    with pytest.raises(ModelFileError, match="corrupted: array"):
        load_network(bad)


def test_wrong_type_is_refused_with_a_pointer(tmp_path, relu_net):
    path = save_network(relu_net, tmp_path / "net.npz")
    with pytest.raises(ModelFileError, match="not a fitted estimator; use load_network"):
        load_estimator(path)


# --------------------------------------------------------------------------- atomic writes
def test_failed_write_leaves_old_file_and_no_temporary(tmp_path, relu_net, gated_net, monkeypatch):
    path = save_network(relu_net, tmp_path / "net.npz")
    before = path.read_bytes()

    def broken(fh, **arrays):
        fh.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OSError, match="disk full"):
        save_network(gated_net, path)
    with pytest.raises(OSError, match="disk full"):
        save_network(gated_net, tmp_path / "new.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.npz"]
    assert path.read_bytes() == before
    monkeypatch.undo()
    save_network(gated_net, path)  # a successful save replaces the file
    assert isinstance(load_network(path), GatedReLUNetwork)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.npz"]


def test_saved_file_gets_normal_permissions(tmp_path, relu_net):
    path = save_network(relu_net, tmp_path / "net.npz")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


# --------------------------------------------------------------------------- estimators


def test_classifier_round_trip(tmp_path, small_classification):
    X, y = small_classification
    labels = np.where(y > 0, "yes", "no").astype(object)
    clf = estimator.ConvexReLUClassifier(n_patterns=6, random_state=0).fit(X, labels)
    path = save_estimator(clf, tmp_path / "clf.npz", metadata={"note": "x"})
    loaded = load_estimator(path)
    assert type(loaded) is estimator.ConvexReLUClassifier
    assert loaded.get_params() == clf.get_params()
    assert loaded.classes_.dtype == clf.classes_.dtype and loaded.classes_.tolist() == clf.classes_.tolist()
    assert len(loaded.networks_) == 1
    for a, b in zip(loaded.networks_, clf.networks_, strict=True):
        assert _bits(a.U) == _bits(b.U) and _bits(a.b) == _bits(b.b) and _bits(a.alpha) == _bits(b.alpha)
    for name in ("objective_", "status_", "n_iter_", "n_features_in_"):
        assert getattr(loaded, name) == getattr(clf, name)
    assert np.array_equal(loaded.patterns_.D, clf.patterns_.D)
    assert np.array_equal(loaded.predict(X), clf.predict(X))
    assert np.array_equal(loaded.decision_function(X), clf.decision_function(X))
    with pytest.raises(ModelFileError, match="use load_estimator"):
        load_network(path)
    assert load_model(path).metadata == {"note": "x"}


def test_multiclass_and_regressor_round_trip(tmp_path, rng):
    X = rng.standard_normal((18, 2))
    y = np.repeat([3, 5, 7], 6)
    clf = estimator.ConvexReLUClassifier(n_patterns=4, random_state=1).fit(X, y)
    loaded = load_estimator(save_estimator(clf, tmp_path / "mc.npz"))
    assert len(loaded.networks_) == 3 and loaded.classes_.dtype == clf.classes_.dtype
    assert np.array_equal(loaded.predict(X), clf.predict(X))
    reg = estimator.ConvexReLURegressor(n_patterns=4, random_state=2, formulation="gated").fit(
        X, X[:, 0] ** 2
    )
    loaded = load_estimator(save_estimator(reg, tmp_path / "reg.npz"))
    assert isinstance(loaded.network_, GatedReLUNetwork)
    assert np.array_equal(loaded.predict(X), reg.predict(X))


def test_estimator_save_refusals(tmp_path, small_classification):
    X, y = small_classification
    with pytest.raises(InvalidInputError, match="not fitted"):
        save_estimator(estimator.ConvexReLUClassifier(), tmp_path / "e.npz")
    with pytest.raises(InvalidInputError, match="save_estimator saves"):
        save_estimator(object(), tmp_path / "e.npz")
    clf = estimator.ConvexReLUClassifier(n_patterns=4, random_state=np.random.default_rng(0)).fit(X, y)
    with pytest.raises(InvalidInputError, match="hyperparameter"):
        save_estimator(clf, tmp_path / "e.npz")
    assert list(tmp_path.iterdir()) == []


def test_estimator_with_foreign_hyperparameters_is_refused(tmp_path, small_classification):
    X, y = small_classification
    clf = estimator.ConvexReLUClassifier(n_patterns=4, random_state=0).fit(X, y)
    src = save_estimator(clf, tmp_path / "e.npz")

    def add_param(h):
        h["content"]["params"]["$dict"].append(["no_such_param", 1])

    bad = _rewrite(tmp_path / "bad.npz", src, mutate_header=add_param)
    with pytest.raises(ModelFileError, match="hyperparameters do not fit"):
        load_estimator(bad)
    evil = _rewrite(tmp_path / "evil.npz", src, mutate_header=lambda h: h.update({"class": "os:system"}))
    with pytest.raises(ModelFileError, match="not one cvxnn can load"):
        load_estimator(evil)
