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

*Encoding* (lists, tuples, dicts, non-finite floats, networks, patterns): see
:mod:`cvxnn.model_codec`.

An estimator is stored as ``{"params": get_params(deep=False), "attributes": {...}}`` where the
attributes are the fitted attributes its class is known to have (see :mod:`cvxnn.model_objects`);
others are left out with a warning and listed in the header's ``"skipped"``. A scikit-learn
``Pipeline`` of scalers (``StandardScaler``, ``MinMaxScaler``) ending in a cvxnn estimator is
stored with class ``"sklearn.pipeline:Pipeline"`` and loads back as a pipeline that predicts on
raw data.

Writing is atomic: the archive goes to a temporary file ``.cvxnn-<hash of the name>-<pid>-*.tmp``
in the destination directory, is flushed to disk, and then renamed over the destination with
:func:`os.replace`; a failure leaves any previous file untouched and no partial file behind. A
temporary file left by a killed process is removed by the next save to the same path.

Loading refuses, with :class:`~cvxnn.exceptions.ModelFileError` and a message that says why:
a missing file, a file that is not an ``.npz``, an ``.npz`` without a cvxnn header, a
truncated or corrupted file (ZIP CRC or checksum mismatch), another format or a newer format
version, and a file that holds another kind of object than the function loads.
"""

from __future__ import annotations

import hashlib
import json
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
from .model_codec import Decoder, Encoder, UnsupportedValue
from .model_objects import CVXNN_ESTIMATORS, build_object, encode_object
from .recovery import GatedReLUNetwork, ReLUNetwork, register_saver

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SavedModel",
    "atomic_write",
    "check_destination",
    "content_digest",
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
_TMP_PREFIX = ".cvxnn-"
_IN_FLIGHT: set[str] = set()


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


# --------------------------------------------------------------------------- bytes
def content_digest(header_bytes: bytes, arrays: dict[str, np.ndarray], order: list[str]) -> str:
    """The ``__checksum__`` of a model file: hex SHA-256 of the header bytes, then of the raw
    C-order bytes of ``arrays`` in ``order`` (the sorted member names)."""
    h = hashlib.sha256(header_bytes)
    for name in order:
        h.update(arrays[name].tobytes(order="C"))
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_destination(path: Any, prefix: str | None = None) -> Path:
    """Validate a destination path before writing; return it as a ``Path``.

    It must be a str or os.PathLike (not None), non-empty, without a NUL byte, with a file name
    the file system allows, not a directory, in an existing directory. Otherwise
    :class:`~cvxnn.exceptions.InvalidInputError` whose message starts with ``prefix`` (default
    ``"Cannot save to '<path>'"``).
    """
    if path is None or isinstance(path, bool):
        raise InvalidInputError(f"path must be a file name (str or os.PathLike); got {path!r}.")
    try:
        name = os.fsdecode(os.fspath(path))
    except (TypeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            f"path must be a str or os.PathLike; got {type(path).__name__} ({exc})."
        ) from None
    prefix = prefix or f"Cannot save to {name!r}"
    if not name:
        raise InvalidInputError(f"{prefix}: the path is empty; give a file name.")
    if "\x00" in name:
        raise InvalidInputError(f"{prefix}: the path contains a NUL byte, which no file name may hold.")
    p = Path(name)
    parent = p.parent if str(p.parent) else Path(".")
    try:
        limit = os.pathconf(parent if parent.is_dir() else ".", "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = 255
    if len(os.fsencode(p.name)) > limit:
        raise InvalidInputError(
            f"{prefix[:80]}...: the file name is {len(os.fsencode(p.name))} bytes long; this file system "
            f"allows at most {limit}."
        )
    try:
        is_dir, parent_ok = p.is_dir(), parent.is_dir()
    except OSError as exc:
        raise InvalidInputError(f"{prefix}: {exc.strerror or exc}.") from None
    if is_dir:
        raise InvalidInputError(f"{prefix}: it is a directory; give a file path.")
    if not parent_ok:
        raise InvalidInputError(f"{prefix}: directory {str(parent)!r} does not exist.")
    return p


def _tmp_stem(path: Path) -> str:
    """Prefix of the temporary files of saves to ``path`` (fixed length, whatever the name)."""
    digest = hashlib.sha256(os.fsencode(os.path.abspath(path))).hexdigest()[:16]
    return f"{_TMP_PREFIX}{digest}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove_stale(path: Path) -> None:
    """Remove temporary files that an interrupted save to ``path`` left behind: those of a
    process that no longer runs, or of this process but not in flight."""
    stem = _tmp_stem(path)
    try:
        candidates = list(path.parent.glob(stem + "*.tmp"))
    except OSError:
        return
    for tmp in candidates:
        pid_text = tmp.name[len(stem) :].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid == os.getpid() and str(tmp) in _IN_FLIGHT:
            continue
        if pid == os.getpid() or not _pid_alive(pid):
            tmp.unlink(missing_ok=True)


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` atomically: ``write`` fills a temporary file in the same directory, which is
    flushed to disk, given the usual permissions and renamed over ``path``; on failure nothing
    is left behind and a previous file is untouched. Stale temporary files of earlier,
    interrupted saves to ``path`` are removed first."""
    _remove_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{_tmp_stem(path)}{os.getpid()}-", suffix=".tmp", dir=path.parent)
    _IN_FLIGHT.add(tmp)
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
    finally:
        _IN_FLIGHT.discard(tmp)


def _write(path: Any, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    path = check_destination(path)
    order = sorted(arrays)
    header = dict(header)
    header["arrays"] = {k: {"dtype": arrays[k].dtype.str, "shape": list(arrays[k].shape)} for k in order}
    header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    checksum = content_digest(header_bytes, arrays, order)
    members = {
        _HEADER: np.frombuffer(header_bytes, dtype=np.uint8),
        _CHECKSUM: np.frombuffer(checksum.encode("ascii"), dtype=np.uint8),
        **arrays,
    }
    atomic_write(path, lambda fh: np.savez_compressed(fh, allow_pickle=False, **members))
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
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"{name!r} has a corrupted header ({exc}).") from None
    except RecursionError:
        raise ModelFileError(f"{name!r} has a malformed header (nested too deeply).") from None
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
        if not isinstance(spec, dict):
            raise ModelFileError(f"{name!r} is corrupted: the array table entry of {key!r} is not a dict.")
        if arr.dtype.str != spec.get("dtype") or list(arr.shape) != spec.get("shape"):
            raise ModelFileError(
                f"{name!r} is corrupted: array {key!r} has dtype {arr.dtype.str} shape {arr.shape}, "
                f"the header says {spec.get('dtype')} {spec.get('shape')}."
            )
    if content_digest(header_bytes, arrays, sorted(table)) != checksum:
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


def _encode_metadata(enc: Encoder, metadata: Any) -> Any:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise InvalidInputError(f"metadata must be a dict with string keys; got {type(metadata).__name__}.")
    try:
        return enc.encode(metadata, "metadata")
    except UnsupportedValue as exc:
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
    enc = Encoder()
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
        enc = Encoder()
        content = enc.encode(list(obj), "networks")
        meta = _encode_metadata(enc, metadata)
        return _write(path, _header("networks", "list", content, meta), enc.arrays)
    return save_estimator(obj, path, metadata=metadata)


def save_estimator(estimator: Any, path: Any, *, metadata: dict | None = None) -> Path:
    """Save a fitted cvxnn estimator, or a scikit-learn ``Pipeline`` ending in one, to ``path``.

    Stored: the class, ``get_params(deep=False)``, and the fitted attributes the class is known
    to have (for cvxnn's estimators ``networks_``, ``network_``, ``classes_``,
    ``n_features_in_``, ``feature_names_in_``, ``objective_``, ``status_``, ``n_iter_``,
    ``patterns_``); other fitted attributes are skipped with a warning. A ``Pipeline`` may hold
    ``StandardScaler`` and ``MinMaxScaler`` steps before its final ``ConvexReLUClassifier`` or
    ``ConvexReLURegressor``; :func:`load_estimator` returns it as a pipeline that predicts on
    raw data.

    Parameters
    ----------
    estimator : ConvexReLUClassifier, ConvexReLURegressor or sklearn.pipeline.Pipeline
        Fitted.
    path : str or os.PathLike
        Destination; written atomically.
    metadata : dict, optional
        Extra data stored alongside, returned by :func:`load_model`.

    Raises
    ------
    InvalidInputError
        If ``estimator`` is of another type (or a pipeline has a step of another type), is not
        fitted, a hyperparameter cannot be stored (e.g. a ``numpy.random.Generator`` as
        ``random_state``), or ``path`` is not a writable file name.
    """
    enc = Encoder()
    key, content, skipped = encode_object(estimator, enc)
    if skipped:
        warnings.warn(
            f"save_estimator left out fitted attribute(s) {skipped} of types or names the model format "
            "does not hold; the loaded estimator will not have them.",
            UserWarning,
            stacklevel=2,
        )
    meta = _encode_metadata(enc, metadata)
    return _write(path, _header("estimator", key, content, meta, skipped), enc.arrays)


def load_model(path: Any) -> SavedModel:
    """Load any cvxnn model file: a network, a list of networks or an estimator, with metadata.

    Raises
    ------
    ModelFileError
        Missing, truncated, corrupted, foreign or version-mismatched file (the message says which).
    """
    header, arrays = _read(path)
    dec = Decoder(arrays)
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
            obj = build_object(header.get("class"), content, dec)
        else:
            raise ModelFileError(f"unknown object kind {kind!r}")
    except ModelFileError as exc:
        if str(exc).startswith(repr(os.fspath(path))):
            raise
        raise ModelFileError(f"{os.fspath(path)!r} cannot be loaded: {exc}.") from None
    except (
        InvalidInputError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        IndexError,
        RecursionError,
    ) as exc:
        raise ModelFileError(
            f"{os.fspath(path)!r} cannot be loaded: inconsistent content ({type(exc).__name__}: {exc})."
        ) from None
    return SavedModel(kind=kind, obj=obj, metadata=metadata, header=header)


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
    """Load a fitted estimator or pipeline saved by :func:`save_estimator` (or by ``cvxnn fit``).

    The object is rebuilt from its class and hyperparameters and given its known fitted
    attributes back (networks bitwise equal), so ``predict`` works without refitting. A
    ``Pipeline`` predicts on raw data (its scalers run first).

    Warns
    -----
    UserWarning
        For a file written by ``cvxnn fit`` before models carried their preprocessing: the
        estimator it holds expects *standardized* input, ``(X - mean) / scale`` with the
        statistics in ``load_model(path).metadata["preprocessing"]``.

    Raises
    ------
    ModelFileError
        Missing, truncated, corrupted or version-mismatched file, a file that holds a network
        rather than an estimator, or malformed content (unknown classes or attributes,
        hyperparameters this cvxnn's estimator does not accept).
    """
    saved = load_model(path)
    if saved.kind != "estimator":
        raise ModelFileError(
            f"{os.fspath(path)!r} holds {saved.kind!r} ({saved.header.get('class')}), not a fitted "
            "estimator; use load_network (or cvxnn.io.load_model)."
        )
    prep = saved.metadata.get("preprocessing") if isinstance(saved.metadata, dict) else None
    if saved.header.get("class") in CVXNN_ESTIMATORS and isinstance(prep, dict) and prep:
        warnings.warn(
            f"{os.fspath(path)!r} was saved by `cvxnn fit` before model files carried their "
            "preprocessing: the estimator expects standardized input, (X - mean) / scale with mean "
            "and scale from cvxnn.io.load_model(path).metadata['preprocessing'], not raw data. "
            "Refit with `cvxnn fit` to get a model file that predicts on raw data.",
            UserWarning,
            stacklevel=2,
        )
    return saved.obj


register_saver(save_network)  # ReLUNetwork.save / GatedReLUNetwork.save write through save_network
