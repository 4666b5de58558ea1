"""The objects a model file may hold besides networks: cvxnn estimators and scikit-learn pipelines.

Only the classes in :data:`KNOWN_CLASSES` are ever constructed, and each gets back only the
fitted attributes its :class:`ClassSpec` lists, each checked for its type (and, for arrays, its
length against ``n_features_in_``). Hyperparameters must be plain values (``None``, booleans,
numbers, strings, and tuples, lists or dicts of them) that the class's constructor accepts.

A pipeline is stored as ``{"steps": [[name, step], ...], "verbose": bool}`` where each step is
``{"class": key, "params": ..., "attributes": ...}``; every step but the last is a scaler
(``StandardScaler``, ``MinMaxScaler``) and the last a cvxnn estimator.
"""

from __future__ import annotations

import importlib
import numbers
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import LOSSES
from .certificate import SearchCertificate
from .exceptions import InvalidInputError, ModelFileError
from .model_codec import Decoder, Encoder, UnsupportedValue
from .patterns import ActivationPatterns
from .recovery import GatedReLUNetwork, ReLUNetwork

__all__ = [
    "CVXNN_ESTIMATORS",
    "KNOWN_CLASSES",
    "PIPELINE_CLASS",
    "ClassSpec",
    "build_object",
    "class_key",
    "encode_object",
]

Check = Callable[[Any], bool]


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool | np.bool_)


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)


def _float_vector(v: Any) -> bool:
    return isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype.kind in "iuf"


def _str_vector(v: Any) -> bool:
    return isinstance(v, np.ndarray) and v.ndim == 1 and all(isinstance(s, str) for s in v.ravel())


def _network(v: Any) -> bool:
    return isinstance(v, ReLUNetwork | GatedReLUNetwork)


def _networks(v: Any) -> bool:
    return isinstance(v, list) and len(v) > 0 and all(_network(n) for n in v)


def _classes(v: Any) -> bool:
    return (
        isinstance(v, np.ndarray)
        and v.ndim == 1
        and v.size >= 2
        and (v.dtype.kind in "biuf" or _str_vector(v))
    )


def _optional(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _one_of(*values: Any) -> Check:
    return lambda v: isinstance(v, str) and v in values


@dataclass(frozen=True)
class ClassSpec:
    """A class a model file may hold: where it lives and what of it is stored.

    Attributes
    ----------
    module, name : str
        The class is ``getattr(import_module(module), name)``.
    attributes : dict
        Fitted attribute name -> check of its decoded value; the only attributes loaded.
    vectors : tuple of str
        Attributes whose length must equal ``n_features_in_``.
    params : dict
        Hyperparameters with a stricter check than "a plain value".
    """

    module: str
    name: str
    attributes: dict[str, Check]
    vectors: tuple[str, ...] = ()
    params: dict[str, Check] | None = None


_COMMON = {"n_features_in_": lambda v: _is_int(v) and v >= 1, "feature_names_in_": _str_vector}
_ESTIMATOR_ATTRIBUTES = {
    **_COMMON,
    "networks_": _networks,
    "network_": lambda v: _network(v) or _networks(v),
    "classes_": _classes,
    "objective_": _is_real,
    "status_": lambda v: isinstance(v, str),
    "n_iter_": lambda v: _is_int(v) and v >= 0,
    "patterns_": lambda v: isinstance(v, ActivationPatterns),
    # None for sampled patterns; one certificate per binary problem of a pattern search
    "certificates_": lambda v: (
        v is None or (isinstance(v, list) and len(v) > 0 and all(isinstance(c, SearchCertificate) for c in v))
    ),
}
_ESTIMATOR_PARAMS = {
    "formulation": _one_of("relu", "gated", "scp"),
    "loss": _one_of(*LOSSES),
    "bias": lambda v: isinstance(v, bool),
}
_SAMPLES_SEEN = lambda v: _is_real(v) or _float_vector(v)  # noqa: E731

#: Every class a model file may hold, by its key ``"module:Class"``.
KNOWN_CLASSES: dict[str, ClassSpec] = {
    "cvxnn.estimator:ConvexReLUClassifier": ClassSpec(
        "cvxnn.estimator", "ConvexReLUClassifier", _ESTIMATOR_ATTRIBUTES, params=_ESTIMATOR_PARAMS
    ),
    "cvxnn.estimator:ConvexReLURegressor": ClassSpec(
        "cvxnn.estimator", "ConvexReLURegressor", _ESTIMATOR_ATTRIBUTES, params=_ESTIMATOR_PARAMS
    ),
    "sklearn.preprocessing:StandardScaler": ClassSpec(
        "sklearn.preprocessing",
        "StandardScaler",
        {
            **_COMMON,
            "n_samples_seen_": _SAMPLES_SEEN,
            "mean_": _optional(_float_vector),
            "var_": _optional(_float_vector),
            "scale_": _optional(_float_vector),
        },
        vectors=("mean_", "var_", "scale_", "feature_names_in_"),
    ),
    "sklearn.preprocessing:MinMaxScaler": ClassSpec(
        "sklearn.preprocessing",
        "MinMaxScaler",
        {
            **_COMMON,
            "n_samples_seen_": _SAMPLES_SEEN,
            **{k: _float_vector for k in ("min_", "scale_", "data_min_", "data_max_", "data_range_")},
        },
        vectors=("min_", "scale_", "data_min_", "data_max_", "data_range_", "feature_names_in_"),
    ),
}
#: The keys of cvxnn's own estimators.
CVXNN_ESTIMATORS = ("cvxnn.estimator:ConvexReLUClassifier", "cvxnn.estimator:ConvexReLURegressor")
#: The key of a scikit-learn pipeline.
PIPELINE_CLASS = "sklearn.pipeline:Pipeline"
_SCALERS = tuple(k for k in KNOWN_CLASSES if k not in CVXNN_ESTIMATORS)


def class_key(obj: Any) -> str:
    """``"module:Class"`` of ``obj`` with scikit-learn's private submodules folded to the public one."""
    module = type(obj).__module__
    if module.startswith("sklearn."):
        module = ".".join(p for p in module.split(".") if not p.startswith("_"))
    return f"{module}:{type(obj).__qualname__}"


def _plain(value: Any, depth: int = 0) -> bool:
    if depth > 8:
        return False
    if value is None or isinstance(value, bool | str) or _is_real(value):
        return True
    if isinstance(value, list | tuple):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    return False


# --------------------------------------------------------------------------- saving
def _encode_step(obj: Any, enc: Encoder, where: str) -> tuple[dict[str, Any], list[str]]:
    key = class_key(obj)
    spec = KNOWN_CLASSES[key]
    if not hasattr(obj, "n_features_in_"):
        raise InvalidInputError(f"{where} ({type(obj).__name__}) is not fitted yet: call fit before saving.")
    params = obj.get_params(deep=False)
    bad = sorted(k for k, v in params.items() if not _plain(v))
    if bad:
        raise InvalidInputError(
            f"Cannot save hyperparameter(s) {bad} of {where} ({type(obj).__name__}): model files hold "
            "plain values (None, booleans, numbers, strings and lists/tuples/dicts of them), e.g. an "
            "int random_state."
        )
    content: dict[str, Any] = {"class": key, "params": enc.encode(dict(params), f"{where}.params")}
    attributes: dict[str, Any] = {}
    skipped = sorted(
        n for n in vars(obj) if n.endswith("_") and not n.startswith("_") and n not in spec.attributes
    )
    for name in spec.attributes:
        if not hasattr(obj, name):
            continue
        value = getattr(obj, name)
        if not spec.attributes[name](value):
            skipped.append(name)
            continue
        try:
            attributes[name] = enc.encode(value, f"{where}.{name}")
        except UnsupportedValue:
            skipped.append(name)
    content["attributes"] = {"$dict": [[k, v] for k, v in attributes.items()]}
    return content, [f"{where}.{n}" if where != "estimator" else n for n in skipped]


def encode_object(obj: Any, enc: Encoder) -> tuple[str, dict[str, Any], list[str]]:
    """Encode a fitted cvxnn estimator or pipeline: ``(class key, content, skipped attributes)``.

    Raises
    ------
    InvalidInputError
        For another type, an unfitted object, a pipeline step of a type not in
        :data:`KNOWN_CLASSES`, or hyperparameters that are not plain values.
    """
    key = class_key(obj)
    if key in CVXNN_ESTIMATORS:
        if not hasattr(obj, "networks_"):
            raise InvalidInputError(f"This {type(obj).__name__} is not fitted yet: call fit before saving.")
        content, skipped = _encode_step(obj, enc, "estimator")
        if "networks_" in skipped:
            raise InvalidInputError("networks_ must be a list of ReLUNetwork/GatedReLUNetwork to be saved.")
        return key, content, skipped
    if key != PIPELINE_CLASS:
        raise InvalidInputError(
            f"save_estimator saves a fitted ConvexReLUClassifier, ConvexReLURegressor, or a scikit-learn "
            f"Pipeline of {[k.split(':')[1] for k in _SCALERS]} steps ending in one; got "
            f"{type(obj).__name__} (use save_network for a network)."
        )
    steps = list(obj.steps)
    if getattr(obj, "memory", None) is not None or getattr(obj, "transform_input", None) is not None:
        raise InvalidInputError(
            "Cannot save a Pipeline with memory or transform_input set; use the defaults."
        )
    kinds = [class_key(step) for _, step in steps]
    if not steps or kinds[-1] not in CVXNN_ESTIMATORS or any(k not in _SCALERS for k in kinds[:-1]):
        raise InvalidInputError(
            f"save_estimator saves a Pipeline of scalers {[k.split(':')[1] for k in _SCALERS]} ending in a "
            f"cvxnn estimator; this one has steps {[type(s).__name__ for _, s in steps]}."
        )
    encoded, skipped = [], []
    for name, step in steps:
        content, left = _encode_step(step, enc, f"step {name!r}")
        encoded.append([str(name), content])
        skipped += left
    return PIPELINE_CLASS, {"steps": encoded, "verbose": bool(obj.verbose)}, skipped


# --------------------------------------------------------------------------- loading
def _import(key: str) -> Any:
    spec = KNOWN_CLASSES[key] if key in KNOWN_CLASSES else None
    module, name = (spec.module, spec.name) if spec else ("sklearn.pipeline", "Pipeline")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ModelFileError(f"class {key!r} is not available here ({exc})") from None


def _build_step(content: Any, dec: Decoder, where: str) -> Any:
    if not isinstance(content, dict) or set(content) != {"class", "params", "attributes"}:
        raise ModelFileError(f"{where} must hold exactly 'class', 'params' and 'attributes'")
    key = content["class"]
    if not isinstance(key, str) or key not in KNOWN_CLASSES:
        raise ModelFileError(f"{where}: class {key!r} is not one cvxnn can load ({sorted(KNOWN_CLASSES)})")
    spec = KNOWN_CLASSES[key]
    params = dec.decode(content["params"])
    attributes = dec.decode(content["attributes"])
    if not isinstance(params, dict) or not isinstance(attributes, dict):
        raise ModelFileError(f"{where}: params and attributes must be dicts")
    for name, value in params.items():
        check = (spec.params or {}).get(name, _plain)
        if not _plain(value) or not check(value):
            raise ModelFileError(f"{where}: hyperparameter {name}={value!r} is not allowed")
    cls = _import(key)
    try:
        obj = cls(**params)
    except TypeError as exc:
        raise ModelFileError(
            f"{where}: the saved hyperparameters do not fit this {spec.name} ({exc}); it was saved by "
            "another version"
        ) from None
    unknown = sorted(n for n in attributes if n not in spec.attributes)
    if any(not (n.isidentifier() and n.endswith("_") and not n.startswith("_")) for n in unknown):
        raise ModelFileError(f"{where}: {unknown} are not fitted attributes of {spec.name}")
    if unknown:
        warnings.warn(
            f"{where}: fitted attribute(s) {unknown} are not known to this cvxnn and were not loaded.",
            UserWarning,
            stacklevel=4,
        )
    n_features = attributes.get("n_features_in_")
    for name, value in attributes.items():
        if name not in spec.attributes:
            continue
        if not spec.attributes[name](value):
            raise ModelFileError(
                f"{where}: fitted attribute {name} has the wrong type ({type(value).__name__})"
            )
        if name in spec.vectors and value is not None and value.shape != (n_features,):
            raise ModelFileError(f"{where}: {name} has shape {value.shape}, n_features_in_ is {n_features}")
        setattr(obj, name, value)
    if key in CVXNN_ESTIMATORS:
        _check_estimator(obj, where)
    return obj


def _check_estimator(est: Any, where: str) -> None:
    if not hasattr(est, "networks_"):
        raise ModelFileError(f"{where}: the estimator has no networks_")
    d = {n.n_features for n in est.networks_}
    n_features = getattr(est, "n_features_in_", None)
    if len(d) != 1 or (n_features is not None and d != {n_features}):
        raise ModelFileError(f"{where}: networks of {sorted(d)} features, n_features_in_ is {n_features}")


def build_object(key: Any, content: Any, dec: Decoder) -> Any:
    """Rebuild the estimator or pipeline of class ``key`` from its decoded ``content``.

    Raises
    ------
    ModelFileError
        For an unknown class or step type, an unknown or mistyped attribute, hyperparameters
        that are not plain values or that the class refuses, or inconsistent shapes.
    """
    if key in CVXNN_ESTIMATORS:
        if not isinstance(content, dict):
            raise ModelFileError("the estimator entry is not a dict")
        return _build_step({"class": key, **content}, dec, "estimator")
    if key != PIPELINE_CLASS:
        known = [*CVXNN_ESTIMATORS, PIPELINE_CLASS]
        raise ModelFileError(f"class {key!r} is not one cvxnn can load ({known})")
    if not isinstance(content, dict) or set(content) != {"steps", "verbose"}:
        raise ModelFileError("the pipeline entry must hold exactly 'steps' and 'verbose'")
    steps, verbose = content["steps"], content["verbose"]
    well_formed = isinstance(steps, list) and all(
        isinstance(s, list) and len(s) == 2 and isinstance(s[0], str) and s[0].isidentifier() for s in steps
    )
    if not well_formed or not steps or not isinstance(verbose, bool):
        raise ModelFileError("the pipeline's steps must be a non-empty list of [identifier, step] pairs")
    built = [(name, _build_step(step, dec, f"step {name!r}")) for name, step in steps]
    kinds = [class_key(s) for _, s in built]
    if kinds[-1] not in CVXNN_ESTIMATORS or any(k not in _SCALERS for k in kinds[:-1]):
        raise ModelFileError(f"the pipeline's steps {kinds} are not scalers ending in a cvxnn estimator")
    if len({name for name, _ in built}) != len(built):
        raise ModelFileError("the pipeline's step names are not unique")
    widths = [getattr(s, "n_features_in_", None) for _, s in built]
    if len({w for w in widths if w is not None}) > 1:
        raise ModelFileError(f"the pipeline's steps disagree on the number of features ({widths})")
    try:
        return _import(PIPELINE_CLASS)(built, verbose=verbose)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"the pipeline cannot be rebuilt ({exc})") from None
