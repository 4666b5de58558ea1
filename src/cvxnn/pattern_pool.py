"""The pattern search's working set: distinct patterns, their gates and the current point.

Also the map from a trained ReLU network to a point of the convex program (its warm start).
"""

from __future__ import annotations

import numpy as np

from .losses import loss_value
from .patterns import ActivationPatterns
from .pricing import pattern_keys
from .recovery import ReLUNetwork

__all__ = ["PatternPool", "network_blocks", "pool_objective"]


class PatternPool:
    """Distinct patterns with gates and the current point ``(V, W)`` over them."""

    def __init__(self, Xa: np.ndarray) -> None:
        self.Xa = Xa
        d = Xa.shape[1]
        self.D = np.zeros((Xa.shape[0], 0), dtype=bool)
        self.G = np.zeros((d, 0))
        self.V = np.zeros((d, 0))
        self.W = np.zeros((d, 0))
        self.index: dict[bytes, int] = {}

    @property
    def size(self) -> int:
        return self.D.shape[1]

    def add(
        self, D: np.ndarray, G: np.ndarray, V: np.ndarray | None = None, W: np.ndarray | None = None
    ) -> int:
        """Add patterns; a repeated pattern merges its ``v``/``w`` into the existing column
        (the sum stays in the cone, the prediction is unchanged and the norm can only drop)."""
        V = np.zeros_like(G) if V is None else V
        W = np.zeros_like(G) if W is None else W
        new_cols: list[int] = []
        for j, key in enumerate(pattern_keys(D)):
            i = self.index.get(key)
            if i is None:
                self.index[key] = self.size + len(new_cols)
                new_cols.append(j)
            else:
                if i >= self.size:  # repeated inside this batch: merge into its first copy
                    first = new_cols[i - self.size]
                    V[:, first] += V[:, j]
                    W[:, first] += W[:, j]
                else:
                    self.V[:, i] += V[:, j]
                    self.W[:, i] += W[:, j]
        cols = np.asarray(new_cols, dtype=int)
        self.D = np.hstack([self.D, D[:, cols]])
        self.G = np.hstack([self.G, G[:, cols]])
        self.V = np.hstack([self.V, V[:, cols]])
        self.W = np.hstack([self.W, W[:, cols]])
        return cols.size

    def replace_point(self, D: np.ndarray, G: np.ndarray, V: np.ndarray, W: np.ndarray) -> int:
        """Make the point ``(V, W)`` over the patterns ``D`` (with gates ``G``) the current point:
        add its new patterns and set every other column to zero. Returns the number added."""
        self.V[:] = 0.0
        self.W[:] = 0.0
        return self.add(D, G, V.copy(), W.copy())

    def prune(self) -> None:
        """Drop the patterns whose ``v`` and ``w`` are exactly zero (the objective is unchanged)."""
        keep = np.flatnonzero(np.any(self.V != 0, axis=0) | np.any(self.W != 0, axis=0))
        if keep.size == 0 or keep.size == self.size:
            return
        self.D, self.G, self.V, self.W = self.D[:, keep], self.G[:, keep], self.V[:, keep], self.W[:, keep]
        self.index = {key: i for i, key in enumerate(pattern_keys(self.D))}

    def patterns(self, bias: bool) -> ActivationPatterns:
        norms = np.linalg.norm(self.G, axis=0)
        return ActivationPatterns(D=self.D, gates=self.G / np.where(norms > 0, norms, 1.0), bias=bias)

    def predictions(self, V: np.ndarray, W: np.ndarray) -> np.ndarray:
        return np.sum(self.D * (self.Xa @ (V - W)), axis=1)


def pool_objective(
    pool: PatternPool,
    V: np.ndarray,
    W: np.ndarray,
    y: np.ndarray,
    beta: float,
    loss: str,
    sample_weight: np.ndarray | None = None,
) -> float:
    """The convex objective at ``(V, W)`` over the pool's patterns (losses weighed by
    ``sample_weight``, shape (n,), when given)."""
    reg = float(np.sum(np.linalg.norm(V, axis=0)) + np.sum(np.linalg.norm(W, axis=0)))
    return loss_value(pool.predictions(V, W), y, loss, sample_weight) + beta * reg


def network_blocks(network: ReLUNetwork, Xa: np.ndarray, bias: bool) -> tuple[np.ndarray, ...]:
    r"""The convex-program point of a ReLU network (``docs/math.md``, "Warm starts"): patterns and blocks.

    Neuron :math:`j` with augmented weights :math:`u_j` (``[u_j; b_j]`` with a bias) goes to the
    pattern :math:`1[X'u_j \ge 0]` as :math:`v = |\alpha_j| u_j` when :math:`\alpha_j > 0`, else
    as :math:`w`. The cones hold by construction, the predictions are the network's and
    :math:`\|v\| = |\alpha_j|\|u_j\| \le (\|u_j\|^2 + \alpha_j^2)/2`, so the convex objective at
    this point is at most the network's training objective.

    Returns ``(D, gates, V, W)`` with shapes (n, m), (d', m), (d', m), (d', m), dead neurons
    (zero ``u`` or ``alpha``) removed.
    """
    Ua = np.vstack([network.U, network.b[None, :]]) if bias else np.asarray(network.U)
    alpha = np.asarray(network.alpha)
    live = (np.linalg.norm(Ua, axis=0) > 0) & (alpha != 0)
    Ua, alpha = Ua[:, live], alpha[live]
    D = Xa @ Ua >= 0
    scaled = Ua * np.abs(alpha)
    V = np.where(alpha > 0, scaled, 0.0)
    W = np.where(alpha < 0, scaled, 0.0)
    return D, Ua, V, W
