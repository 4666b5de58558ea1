"""Model files as the commands use them: the networks, the classes and the input transform.

``cvxnn fit`` saves a ``Pipeline`` (scaler, estimator) that predicts on raw features; older
``cvxnn fit`` files hold the bare estimator with the scaler in the metadata
(``metadata["preprocessing"]``), and ``save_network`` files hold networks. :func:`load_for_cli`
reads any of them into one :class:`CliModel`, whose :meth:`CliModel.features` maps raw features
to the networks' input (the pipeline's scaler, the legacy scaler, or nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cvxnn.exceptions import InvalidInputError

__all__ = ["CliModel", "load_for_cli"]


@dataclass
class CliModel:
    """A loaded model file.

    Attributes
    ----------
    path : str
    obj : object
        What the file holds (pipeline, estimator, network or list of networks).
    predictor : object or None
        The object whose ``predict`` takes raw features (pipeline or estimator), ``None`` for
        network files.
    networks : list of ReLUNetwork or GatedReLUNetwork
        One network, or one per class (one-vs-rest).
    classes : ndarray or None
        Class labels (``None`` for regression and for networks saved without them).
    task : str or None
        ``"classification"``, ``"regression"`` or ``None`` (unknown).
    transform : callable or None
        Raw features -> the networks' input: the pipeline's scaler(s), or ``(X - mean) / scale``
        of a legacy file's metadata; ``None`` when the networks take raw features.
    metadata : dict
    description : str
    """

    path: str
    obj: Any
    predictor: Any
    networks: list[Any]
    classes: np.ndarray | None
    task: str | None
    transform: Callable[[np.ndarray], np.ndarray] | None
    metadata: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def n_features(self) -> int:
        """Number of raw input features."""
        return int(self.networks[0].n_features)

    def features(self, X: np.ndarray) -> np.ndarray:
        """The networks' input for raw features ``X`` of shape (n, d)."""
        return X if self.transform is None else np.asarray(self.transform(X), dtype=np.float64)


def _legacy_scaler(path: str, prep: Any, d: int) -> Callable[[np.ndarray], np.ndarray] | None:
    if not prep:
        return None
    try:
        mean = np.asarray(prep["mean"], dtype=np.float64).reshape(-1)
        scale = np.asarray(prep["scale"], dtype=np.float64).reshape(-1)
    except (KeyError, TypeError, ValueError):
        mean = scale = np.empty(0)
    if mean.shape != (d,) or scale.shape != (d,) or not np.all(np.isfinite(scale)) or np.any(scale == 0):
        raise InvalidInputError(
            f"{path!r}: its metadata['preprocessing'] is not a scaler of {d} features "
            "({'mean': [...], 'scale': [...]}, scales nonzero); refit the model with `cvxnn fit`."
        )
    return lambda X: (X - mean) / scale


def load_for_cli(path: str) -> CliModel:
    """Read a model file (any kind cvxnn writes) for ``predict`` and ``attack``."""
    from sklearn.pipeline import Pipeline

    from cvxnn.io import load_model

    saved = load_model(path)
    meta = saved.metadata if isinstance(saved.metadata, dict) else {}
    obj = saved.obj
    if saved.kind == "estimator":
        est = obj[-1] if isinstance(obj, Pipeline) else obj
        nets = list(est.networks_)
        classes = np.asarray(est.classes_) if hasattr(est, "classes_") else None
        task = "classification" if classes is not None else "regression"
        if isinstance(obj, Pipeline):
            transform = obj[:-1].transform if len(obj) > 1 else None
            desc = f"Pipeline({', '.join(name for name, _ in obj.steps)}) of {type(est).__name__}"
            predictor = obj
        else:
            transform = _legacy_scaler(path, meta.get("preprocessing"), nets[0].n_features)
            desc = type(est).__name__ + (" (legacy file: the stored scaler is applied)" if transform else "")
            predictor = obj if transform is None else None
        desc += f" ({est.formulation}, loss {est.loss}, eps {est.eps})"
        return CliModel(path, obj, predictor, nets, classes, task, transform, meta, desc)
    nets = [obj] if saved.kind == "network" else list(obj)
    classes = meta.get("classes")
    classes = None if classes is None else np.asarray(classes)
    task = meta.get("task")
    if classes is not None and len(nets) > 1 and classes.size != len(nets):
        raise InvalidInputError(
            f"{path!r} holds {len(nets)} networks but its metadata names {classes.size} classes; "
            "a one-vs-rest model needs one network per class."
        )
    transform = _legacy_scaler(path, meta.get("preprocessing"), nets[0].n_features)
    desc = repr(obj) if saved.kind == "network" else f"{len(nets)} networks"
    return CliModel(path, obj, None, nets, classes, task, transform, meta, desc)
