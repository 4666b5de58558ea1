r"""Saving and loading networks and fitted estimators: a portable, versioned, checksummed format.

The file format (``cvxnn-model``, version 1)
---------------------------------------------
A model file is a standard NumPy ``.npz`` archive (a ZIP file of ``.npy`` arrays, readable with
``numpy.load(path, allow_pickle=False)`` in any language that reads ZIP and NPY). No pickle is
ever written or read. The archive holds:

``__header__``
    ``uint8`` array: UTF-8 JSON (keys sorted) with

    - ``"format": "cvxnn-model"`` and ``"format_version": 1``;
    - ``"cvxnn_version"``: the version that wrote the file (informational);
    - ``"kind"``: ``"network"``, ``"networks"`` (a list of networks) or ``"estimator"``;
    - ``"class"``: the saved object's class (``"ReLUNetwork"``, ``"GatedReLUNetwork"``,
      ``"list"``, or ``"cvxnn.estimator:ConvexReLUClassifier"`` ...);
    - ``"content"``: the object, encoded as JSON where every array is a reference
      ``{"$array": "a3"}`` to archive member ``a3`` (see *Encoding* below);
    - ``"metadata"``: free-form extra data in the same encoding (the CLI stores its feature
      scaling and training report there);
    - ``"arrays"``: for each member name, its ``dtype`` (NumPy ``dtype.str``, e.g. ``"<f8"``)
      and ``shape``.

``a0``, ``a1``, ...
    The arrays, stored bit for bit (float64 stays float64: the round trip is exact).

``__checksum__``
    ``uint8`` array: the hex SHA-256 digest of the header bytes followed by the raw C-order
    bytes of every array in the sorted order of their member names. Any change to the header or
    the arrays (a flipped bit, a truncated file) is detected on load. The checksum guards against
    damage, not against a deliberate forgery; loading stays safe regardless, since no pickle is
    read and only cvxnn's own network and estimator classes are ever constructed.

*Encoding.* JSON scalars (``null``, booleans, integers, strings, finite floats) stand for
themselves; non-finite floats are ``{"$float": "inf" | "-inf" | "nan"}``; NumPy scalars and
arrays are ``{"$array": name}`` (0-d arrays stand for scalars); lists are JSON lists, tuples
``{"$tuple": [...]}`` and dicts ``{"$dict": [[key, value], ...]}`` (string keys); networks are
``{"$ReLUNetwork": {"U": ..., "b": ..., "alpha": ...}}``,
``{"$GatedReLUNetwork": {"gates": ..., "U": ..., "bias": ...}}``; activation patterns are
``{"$ActivationPatterns": {"D": ..., "gates": ..., "exact": ..., "bias": ..., "n_requested": ...}}``.
Object arrays whose elements are all strings are stored as unicode arrays with
``{"$array": name, "object": true}`` and come back as object arrays.

An estimator is stored as ``{"params": get_params(deep=False), "attributes": {...}}`` where the
attributes are its fitted attributes (public names ending in ``_``) of the types above; other
attribute types are left out with a warning and listed in the header's ``"skipped"``.

Writing is atomic: the archive goes to a temporary file in the destination directory, is flushed
to disk, and then renamed over the destination with :func:`os.replace`; a failure leaves any
previous file untouched and no partial file behind.

Loading refuses, with :class:`~cvxnn.exceptions.ModelFileError` and a message that says why:
a missing file, a file that is not an ``.npz``, an ``.npz`` without a cvxnn header, a
truncated or corrupted file (ZIP CRC or checksum mismatch), another format or a newer format
version, and a file that holds another kind of object than the function loads.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ._version import __version__
from .exceptions import InvalidInputError, ModelFileError
from .patterns import ActivationPatterns
from .recovery import GatedReLUNetwork, ReLUNetwork

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SavedModel",
    "load_estimator",
    "load_model",
    "load_network",
    "save_estimator",
    "save_model",
    "save_network",
]

#: Format name written in every header.
FORMAT_NAME = "cvxnn-model"
#: Format version this cvxnn writes and reads.
FORMAT_VERSION = 1

_HEADER = "__header__"
_CHECKSUM = "__checksum__"
#: Estimator classes ``load_estimator`` may construct (module, class name).
_ESTIMATOR_CLASSES: dict[str, tuple[str, str]] = {
    "cvxnn.estimator:ConvexReLUClassifier": ("cvxnn.estimator", "ConvexReLUClassifier"),
    "cvxnn.estimator:ConvexReLURegressor": ("cvxnn.estimator", "ConvexReLURegressor"),
}
_ARRAY_KINDS = "biufcUS"


@dataclass(frozen=True)
class SavedModel:
    """What :func:`load_model` returns.

    Attributes
    ----------
    kind : str
        ``"network"``, ``"networks"`` or ``"estimator"``.
    obj : object
        The network, the list of networks, or the fitted estimator.
    metadata : dict
        The metadata saved alongside (empty when none).
    header : dict
        The raw header (format, versions, class, array table).
    """

    kind: str
    obj: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict, repr=False)


# --------------------------------------------------------------------------- encoding
class _Unsupported(Exception):
    """A value of a type the format cannot hold (internal)."""


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, arr: np.ndarray, where: str) -> dict[str, Any]:
        ref: dict[str, Any] = {}
        if arr.dtype == object:
            flat = arr.ravel()
            if not all(isinstance(v, str) for v in flat):
                raise _Unsupported(f"{where}: object array with non-string elements")
            arr = arr.astype(str)
            ref["object"] = True
        elif arr.dtype.kind not in _ARRAY_KINDS or arr.dtype.fields is not None:
            raise _Unsupported(f"{where}: array of dtype {arr.dtype}")
        name = f"a{len(self.arrays)}"
        self.arrays[name] = arr if arr.flags.c_contiguous else arr.copy(order="C")  # keeps 0-d
        ref["$array"] = name
        return ref

    def encode(self, value: Any, where: str) -> Any:
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, np.generic):
            return self.array(np.asarray(value), where)
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if math.isfinite(value):
                return value
            return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
        if isinstance(value, np.ndarray):
            return self.array(value, where)
        if isinstance(value, ReLUNetwork):
            return {
                "$ReLUNetwork": {
                    "U": self.array(value.U, where + ".U"),
                    "b": self.array(value.b, where + ".b"),
                    "alpha": self.array(value.alpha, where + ".alpha"),
                }
            }
        if isinstance(value, GatedReLUNetwork):
            return {
                "$GatedReLUNetwork": {
                    "gates": self.array(value.gates, where + ".gates"),
                    "U": self.array(value.U, where + ".U"),
                    "bias": bool(value.bias),
                }
            }
        if isinstance(value, ActivationPatterns):
            return {
                "$ActivationPatterns": {
                    "D": self.array(value.D, where + ".D"),
                    "gates": None if value.gates is None else self.array(value.gates, where + ".gates"),
                    "exact": bool(value.exact),
                    "bias": bool(value.bias),
                    "n_requested": self.encode(value.n_requested, where + ".n_requested"),
                }
            }
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, dict):
            items = []
            for key, v in value.items():
                if not isinstance(key, str):
                    raise _Unsupported(f"{where}: dict key {key!r} is not a string")
                items.append([key, self.encode(v, f"{where}[{key!r}]")])
            return {"$dict": items}
        raise _Unsupported(f"{where}: value of type {type(value).__name__}")


class _Decoder:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays

    def array(self, ref: Any) -> np.ndarray:
        if not isinstance(ref, dict) or ref.get("$array") not in self.arrays:
            raise ModelFileError(f"array reference {ref!r} points to no array in the file")
        arr = self.arrays[ref["$array"]]
        if ref.get("object"):
            arr = arr.astype(object)
        return arr

    def decode(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict) or len(value) == 0:
            raise ModelFileError(f"unexpected entry {value!r} in the header")
        if "$array" in value:
            arr = self.array(value)
            return arr[()] if arr.ndim == 0 else arr
        (tag, body), *rest = value.items()
        if rest:
            raise ModelFileError(f"unexpected entry {value!r} in the header")
        if tag == "$float":
            return float(body)
        if tag == "$tuple":
            return tuple(self.decode(v) for v in body)
        if tag == "$dict":
            return {k: self.decode(v) for k, v in body}
        if tag == "$ReLUNetwork":
            return ReLUNetwork(
                U=self.array(body["U"]), b=self.array(body["b"]), alpha=self.array(body["alpha"])
            )
        if tag == "$GatedReLUNetwork":
            return GatedReLUNetwork(
                gates=self.array(body["gates"]), U=self.array(body["U"]), bias=bool(body["bias"])
            )
        if tag == "$ActivationPatterns":
            gates = body["gates"]
            return ActivationPatterns(
                D=self.array(body["D"]),
                gates=None if gates is None else self.array(gates),
                exact=bool(body["exact"]),
                bias=bool(body["bias"]),
                n_requested=self.decode(body["n_requested"]),
            )
        raise ModelFileError(f"unknown tag {tag!r} in the header (written by a newer cvxnn?)")


# --------------------------------------------------------------------------- bytes
def _digest(header_bytes: bytes, arrays: dict[str, np.ndarray], order: list[str]) -> str:
    h = hashlib.sha256(header_bytes)
    for name in order:
        h.update(arrays[name].tobytes(order="C"))
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_destination(path: Path, prefix: str) -> Path:
    """Refuse a destination that cannot be written (a directory, or in a missing directory);
    returns its parent. Messages start with ``prefix``."""
    if path.is_dir():
        raise InvalidInputError(f"{prefix}: it is a directory; give a file path.")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidInputError(f"{prefix}: directory {str(parent)!r} does not exist.")
    return parent


def _atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` atomically: ``write`` fills a temporary file in the same directory, which is
    flushed to disk, given the usual permissions and renamed over ``path``; on failure nothing
    is left behind and a previous file is untouched."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write(path: Any, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    path = Path(os.fspath(path))
    _check_destination(path, f"Cannot save to {str(path)!r}")
    order = sorted(arrays)
    header = dict(header)
    header["arrays"] = {k: {"dtype": arrays[k].dtype.str, "shape": list(arrays[k].shape)} for k in order}
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    checksum = _digest(header_bytes, arrays, order)
    members = {
        _HEADER: np.frombuffer(header_bytes, dtype=np.uint8),
        _CHECKSUM: np.frombuffer(checksum.encode("ascii"), dtype=np.uint8),
        **arrays,
    }
    _atomic_write(path, lambda fh: np.savez_compressed(fh, allow_pickle=False, **members))
    return path


def _read(path: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        name = os.fspath(path)
    except TypeError:
        raise InvalidInputError(f"path must be a str or os.PathLike; got {type(path).__name__}.") from None
    p = Path(name)
    if not p.exists():
        raise ModelFileError(f"Model file {name!r} does not exist.")
    if not p.is_file():
        raise ModelFileError(f"Model file {name!r} is not a regular file.")
    if not zipfile.is_zipfile(p):
        raise ModelFileError(
            f"{name!r} is not a cvxnn model file: not an .npz (ZIP) archive, or truncated "
            "(cvxnn model files are written by save_network/save_estimator or `cvxnn fit`)."
        )
    try:
        with np.load(p, allow_pickle=False) as archive:
            files = list(archive.files)
            if _HEADER not in files or _CHECKSUM not in files:
                raise ModelFileError(
                    f"{name!r} is an .npz archive but not a cvxnn model file (no {_HEADER!r}/"
                    f"{_CHECKSUM!r} members; found {files[:8]})."
                )
            header_bytes = archive[_HEADER].tobytes()
            checksum = archive[_CHECKSUM].tobytes().decode("ascii")
            arrays = {k: archive[k] for k in files if k not in (_HEADER, _CHECKSUM)}
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(
            f"{name!r} is corrupted or truncated and cannot be read ({type(exc).__name__}: {exc})."
        ) from None
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{name!r} has a corrupted header ({exc}).") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        fmt = header.get("format") if isinstance(header, dict) else None
        raise ModelFileError(f"{name!r} is not a {FORMAT_NAME} file (format {fmt!r}).")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        hint = " (written by a newer cvxnn; upgrade cvxnn)" if newer else ""
        raise ModelFileError(
            f"{name!r} has {FORMAT_NAME} format version {version!r}; this cvxnn "
            f"({__version__}) reads version {FORMAT_VERSION}{hint}."
        )
    table = header.get("arrays")
    if not isinstance(table, dict) or set(table) != set(arrays):
        raise ModelFileError(f"{name!r} is corrupted: the header's array table does not match the archive.")
    for key, spec in table.items():
        arr = arrays[key]
        if arr.dtype.str != spec.get("dtype") or list(arr.shape) != spec.get("shape"):
            raise ModelFileError(
                f"{name!r} is corrupted: array {key!r} has dtype {arr.dtype.str} shape {arr.shape}, "
                f"the header says {spec.get('dtype')} {spec.get('shape')}."
            )
    if _digest(header_bytes, arrays, sorted(table)) != checksum:
        raise ModelFileError(f"{name!r} is corrupted: its SHA-256 checksum does not match the content.")
    return header, arrays


# --------------------------------------------------------------------------- public API
def _header(kind: str, cls: str, content: Any, metadata: Any, skipped: list[str] | None = None) -> dict:
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "cvxnn_version": __version__,
        "kind": kind,
        "class": cls,
        "content": content,
        "metadata": metadata,
    }
    if skipped:
        header["skipped"] = skipped
    return header


def _encode_metadata(enc: _Encoder, metadata: Any) -> Any:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise InvalidInputError(f"metadata must be a dict with string keys; got {type(metadata).__name__}.")
    try:
        return enc.encode(metadata, "metadata")
    except _Unsupported as exc:
        raise InvalidInputError(f"Cannot save metadata: {exc} is not supported.") from None


def save_network(network: ReLUNetwork | GatedReLUNetwork, path: Any, *, metadata: dict | None = None) -> Path:
    """Save a network to ``path`` (exactly that name; ``.npz`` is the customary suffix).

    Parameters
    ----------
    network : ReLUNetwork or GatedReLUNetwork
        The network; its arrays (``U`` (d, m), ``b`` (m,), ``alpha`` (m,), or ``gates`` and
        ``U`` (d', m)) are stored bit for bit.
    path : str or os.PathLike
        Destination; written atomically (temporary file in the same directory, then rename).
    metadata : dict, optional
        Extra data stored alongside (scalars, strings, arrays, lists, dicts), returned by
        :func:`load_model`.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    if not isinstance(network, ReLUNetwork | GatedReLUNetwork):
        raise InvalidInputError(
            f"save_network saves a ReLUNetwork or GatedReLUNetwork; got {type(network).__name__} "
            "(use save_estimator for a fitted estimator)."
        )
    enc = _Encoder()
    content = enc.encode(network, "network")
    meta = _encode_metadata(enc, metadata)
    return _write(path, _header("network", type(network).__name__, content, meta), enc.arrays)


def save_model(obj: Any, path: Any, *, metadata: dict | None = None) -> Path:
    """Save a network, a list of networks (e.g. one-vs-rest) or a fitted estimator, with metadata.

    Dispatches to :func:`save_network` or :func:`save_estimator`; a list of networks is stored
    with ``kind="networks"``. Load any of them with :func:`load_model`.
    """
    if isinstance(obj, ReLUNetwork | GatedReLUNetwork):
        return save_network(obj, path, metadata=metadata)
    if isinstance(obj, list | tuple):
        if not obj or not all(isinstance(n, ReLUNetwork | GatedReLUNetwork) for n in obj):
            raise InvalidInputError("A list to save must be a non-empty list of networks.")
        enc = _Encoder()
        content = enc.encode(list(obj), "networks")
        meta = _encode_metadata(enc, metadata)
        return _write(path, _header("networks", "list", content, meta), enc.arrays)
    return save_estimator(obj, path, metadata=metadata)


def _estimator_key(est: Any) -> str:
    return f"{type(est).__module__}:{type(est).__qualname__}"


def save_estimator(estimator: Any, path: Any, *, metadata: dict | None = None) -> Path:
    """Save a fitted cvxnn estimator's essentials to ``path``.

    Stored: the class, ``get_params(deep=False)``, and every fitted attribute (public name
    ending in ``_``: ``networks_``, ``network_``, ``classes_``, ``n_features_in_``,
    ``objective_``, ``status_``, ``n_iter_``, ``patterns_``, ...) whose type the format holds
    (see the module documentation); other attributes are skipped with a warning.

    Raises
    ------
    InvalidInputError
        If ``estimator`` is not a cvxnn estimator, is not fitted (no ``networks_``), or a
        hyperparameter cannot be stored (e.g. a ``numpy.random.Generator`` as ``random_state``).
    """
    key = _estimator_key(estimator)
    if key not in _ESTIMATOR_CLASSES or not hasattr(estimator, "get_params"):
        raise InvalidInputError(
            f"save_estimator saves {sorted(n.split(':')[1] for n in _ESTIMATOR_CLASSES)}; got "
            f"{type(estimator).__name__} (use save_network for a network)."
        )
    if not hasattr(estimator, "networks_"):
        raise InvalidInputError(f"This {type(estimator).__name__} is not fitted yet: call fit before saving.")
    enc = _Encoder()
    params = estimator.get_params(deep=False)
    try:
        enc_params = enc.encode(dict(params), "params")
    except _Unsupported as exc:
        raise InvalidInputError(
            f"Cannot save hyperparameter {exc}; use plain values (e.g. an int random_state)."
        ) from None
    attributes: dict[str, Any] = {}
    skipped: list[str] = []
    for name in sorted(vars(estimator)):
        if not name.endswith("_") or name.startswith("_") or name in params:
            continue
        sub = _Encoder()
        sub.arrays = dict(enc.arrays)
        try:
            encoded = sub.encode(getattr(estimator, name), name)
        except _Unsupported:
            skipped.append(name)
            continue
        enc.arrays = sub.arrays
        attributes[name] = encoded
    if "networks_" in skipped:
        raise InvalidInputError("networks_ must be a list of ReLUNetwork/GatedReLUNetwork to be saved.")
    if skipped:
        warnings.warn(
            f"save_estimator left out fitted attribute(s) {skipped} of types the model format does "
            "not hold; the loaded estimator will not have them.",
            UserWarning,
            stacklevel=2,
        )
    meta = _encode_metadata(enc, metadata)
    content = {"params": enc_params, "attributes": {"$dict": [[k, v] for k, v in attributes.items()]}}
    return _write(path, _header("estimator", key, content, meta, skipped), enc.arrays)


def load_model(path: Any) -> SavedModel:
    """Load any cvxnn model file: a network, a list of networks or an estimator, with metadata.

    Raises
    ------
    ModelFileError
        Missing, truncated, corrupted, foreign or version-mismatched file (the message says which).
    """
    header, arrays = _read(path)
    dec = _Decoder(arrays)
    kind = header.get("kind")
    content = header.get("content")
    try:
        metadata = dec.decode(header.get("metadata")) or {}
        if kind == "network":
            obj = dec.decode(content)
            if not isinstance(obj, ReLUNetwork | GatedReLUNetwork):
                raise ModelFileError("the network entry does not hold a network")
        elif kind == "networks":
            obj = dec.decode(content)
            nets = isinstance(obj, list) and all(isinstance(n, ReLUNetwork | GatedReLUNetwork) for n in obj)
            if not nets:
                raise ModelFileError("the networks entry does not hold a list of networks")
        elif kind == "estimator":
            obj = _build_estimator(header.get("class"), content, dec)
        else:
            raise ModelFileError(f"unknown object kind {kind!r}")
    except ModelFileError as exc:
        if str(exc).startswith(repr(os.fspath(path))):
            raise
        raise ModelFileError(f"{os.fspath(path)!r} cannot be loaded: {exc}.") from None
    except (InvalidInputError, KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{os.fspath(path)!r} cannot be loaded: inconsistent content ({type(exc).__name__}: {exc})."
        ) from None
    return SavedModel(kind=kind, obj=obj, metadata=metadata, header=header)


def _build_estimator(cls_key: Any, content: Any, dec: _Decoder) -> Any:
    if cls_key not in _ESTIMATOR_CLASSES:
        raise ModelFileError(f"estimator class {cls_key!r} is not one cvxnn can load")
    module_name, cls_name = _ESTIMATOR_CLASSES[cls_key]
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise ModelFileError(f"estimator class {cls_key!r} is not available in this cvxnn ({exc})") from None
    params = dec.decode(content["params"])
    attributes = dec.decode(content["attributes"])
    try:
        est = cls(**params)
    except TypeError as exc:
        raise ModelFileError(
            f"the saved hyperparameters do not fit this cvxnn's {cls_name} ({exc}); it was saved by "
            "another cvxnn version"
        ) from None
    for name, value in attributes.items():
        setattr(est, name, value)
    return est


def load_network(path: Any) -> ReLUNetwork | GatedReLUNetwork:
    """Load a network saved by :func:`save_network` (or by ``cvxnn fit`` for one network).

    Returns
    -------
    ReLUNetwork or GatedReLUNetwork
        Arrays bitwise equal to the saved ones.

    Raises
    ------
    ModelFileError
        Missing, truncated, corrupted, version-mismatched file, or a file that holds an
        estimator or several networks (the message says what to call instead).
    """
    saved = load_model(path)
    if saved.kind != "network":
        what = {"estimator": "a fitted estimator (use load_estimator)", "networks": "several networks"}
        raise ModelFileError(
            f"{os.fspath(path)!r} holds {what.get(saved.kind, saved.kind)}, not a single network; "
            "use cvxnn.io.load_model to load any model file."
        )
    return saved.obj


def load_estimator(path: Any) -> Any:
    """Load a fitted estimator saved by :func:`save_estimator`.

    The estimator is rebuilt from its class and hyperparameters and given its fitted
    attributes back (networks bitwise equal), so ``predict`` works without refitting.

    Raises
    ------
    ModelFileError
        Missing, truncated, corrupted or version-mismatched file, a file that holds a network
        rather than an estimator, or hyperparameters this cvxnn's estimator does not accept.
    """
    saved = load_model(path)
    if saved.kind != "estimator":
        raise ModelFileError(
            f"{os.fspath(path)!r} holds {saved.kind!r} ({saved.header.get('class')}), not a fitted "
            "estimator; use load_network (or cvxnn.io.load_model)."
        )
    return saved.obj
