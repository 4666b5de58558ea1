"""ShardedSettings: one source of truth for the settings shared with AdmmSettings (no cluster)."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from cvxnn import AdmmSettings
from cvxnn.distributed import ShardedSettings
from cvxnn.distributed.settings import SHARDED_ADMM_DEFAULTS, SHARED_WITH_ADMM
from cvxnn.exceptions import InvalidInputError


def test_shared_settings_are_admm_settings_with_the_listed_defaults_only():
    settings = ShardedSettings()
    admm_default = AdmmSettings()
    for name in SHARED_WITH_ADMM:
        expected = SHARDED_ADMM_DEFAULTS.get(name, getattr(admm_default, name))
        assert getattr(settings, name) == expected, name
        assert getattr(settings.admm, name) == expected, name
    # the listed differences are real differences, and only shared names are listed
    for name, value in SHARDED_ADMM_DEFAULTS.items():
        assert name in SHARED_WITH_ADMM
        assert getattr(admm_default, name) != value, name
    # the shared names are not re-declared as fields
    own = {f.name for f in dataclasses.fields(ShardedSettings)}
    assert own.isdisjoint(SHARED_WITH_ADMM)


def test_coerce_routes_flat_names():
    settings = ShardedSettings.coerce(
        {"max_iter": 7, "eps_abs": 1e-5, "rowgen_rows": 2, "cone_method": "slack"}
    )
    assert settings.admm.max_iter == settings.max_iter == 7
    assert settings.eps_abs == 1e-5 and settings.eps_rel == SHARDED_ADMM_DEFAULTS["eps_rel"]
    assert settings.rowgen_rows == 2 and settings.cone_method == "slack"
    assert pickle.loads(pickle.dumps(settings)) == settings
    with pytest.raises(AttributeError):
        _ = settings.projection_steps  # the single process's, not read through


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"max_iter": 0}, r"ShardedSettings\.max_iter must be an integer >= 1"),
        ({"alpha": 2.5}, r"ShardedSettings\.alpha .* must be in \(0, 2\)"),
        ({"gap_tol": None}, r"ShardedSettings\.gap_tol must be a positive real number; got None"),
        ({"rowgen_rows": 0}, r"ShardedSettings\.rowgen_rows"),
        ({"max_recoveries": -1}, r"ShardedSettings\.max_recoveries must be an integer >= 0"),
        ({"linear_solver": "woodbury"}, r"ShardedSettings\.linear_solver must be one of"),
        ({"projection_steps": 3}, r"Unknown solve_sharded setting\(s\) \['projection_steps'\]"),
    ],
)
def test_bad_settings_named(overrides, match):
    with pytest.raises(InvalidInputError, match=match):
        ShardedSettings.coerce(overrides)


def test_admm_field_must_be_admm_settings():
    with pytest.raises(InvalidInputError, match=r"ShardedSettings\.admm must be an AdmmSettings"):
        ShardedSettings(admm={"max_iter": 3})


def test_rowgen_rows_default_follows_the_dimension():
    from cvxnn.distributed.settings import default_rowgen_rows

    assert ShardedSettings().rowgen_rows is None
    assert [default_rowgen_rows(d) for d in (1, 6, 8, 9, 20, 51)] == [4, 4, 4, 5, 10, 26]
