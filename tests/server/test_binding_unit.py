"""The experiment binding on its own: path, ``X-Eden-Experiment-Id`` and ``--experiment-id``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eden_storage_async import ConfigError
from eden_storage_async._server.binding import (
    BindingProblem,
    check_binding,
    check_experiment_id_setting,
    is_experiment_id,
)

from .wire_strategies import experiment_ids, malformed_experiment_ids

BAD = BindingProblem.BAD_REQUEST
MISMATCH = BindingProblem.MISMATCH


@pytest.mark.parametrize(
    ("path", "header", "bound", "expected"),
    [
        ("exp-1", "exp-1", None, None),
        ("exp-1", "exp-1", "exp-1", None),
        ("exp-1", None, None, MISMATCH),
        ("exp-1", None, "exp-1", MISMATCH),
        ("exp-1", "exp-2", None, MISMATCH),
        ("exp-1", "EXP-1", None, MISMATCH),
        ("exp-1", "exp-1 ", None, MISMATCH),
        ("exp-1", "", None, MISMATCH),
        ("exp-1", "exp-1", "exp-2", MISMATCH),
        ("exp-2", "exp-2", "exp-1", MISMATCH),
        ("..", "..", None, BAD),
        (".hidden", ".hidden", None, BAD),
        ("", "", None, BAD),
        ("a/b", "a/b", None, BAD),
        ("a" * 129, "a" * 129, None, BAD),
        ("exp-1\n", "exp-1\n", None, BAD),
        # The grammar is checked first: a malformed path is a bad request even
        # when the header is missing or the server is bound elsewhere.
        ("..", None, "exp-1", BAD),
    ],
)
def test_binding_table(
    path: str, header: str | None, bound: str | None, expected: BindingProblem | None
) -> None:
    refusal = check_binding(path, header, bound_experiment_id=bound)
    if expected is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert refusal.problem is expected
        assert refusal.status == 400


def test_problem_values_are_edens_types() -> None:
    assert BAD.value == "eden://error/bad-request"
    assert MISMATCH.value == "eden://error/experiment-id-mismatch"


@pytest.mark.parametrize(
    ("header", "bound", "expected"),
    [
        (None, None, None),
        (None, "exp-1", None),
        (None, "exp-2", MISMATCH),
        ("exp-1", None, None),
        ("exp-2", None, MISMATCH),
    ],
)
def test_without_a_required_header_a_present_one_must_still_agree(
    header: str | None, bound: str | None, expected: BindingProblem | None
) -> None:
    refusal = check_binding("exp-1", header, bound_experiment_id=bound, require_header=False)
    assert (None if refusal is None else refusal.problem) is expected


@given(experiment_ids())
def test_any_well_formed_id_that_agrees_is_accepted(experiment_id: str) -> None:
    assert is_experiment_id(experiment_id)
    assert check_binding(experiment_id, experiment_id, bound_experiment_id=None) is None
    assert check_binding(experiment_id, experiment_id, bound_experiment_id=experiment_id) is None


@given(experiment_ids(), experiment_ids())
def test_any_two_different_ids_mismatch(path: str, other: str) -> None:
    if path == other:
        return
    by_header = check_binding(path, other, bound_experiment_id=None)
    by_bound = check_binding(path, path, bound_experiment_id=other)
    assert by_header is not None
    assert by_header.problem is MISMATCH
    assert by_bound is not None
    assert by_bound.problem is MISMATCH


@given(malformed_experiment_ids(), st.one_of(st.none(), st.text(max_size=20)))
def test_any_malformed_path_id_is_a_bad_request(path: str, header: str | None) -> None:
    assert not is_experiment_id(path)
    refusal = check_binding(path, header, bound_experiment_id=None)
    assert refusal is not None
    assert refusal.problem is BAD


def test_a_malformed_header_is_not_echoed_in_the_detail() -> None:
    junk = "x" * 5000 + "\r\nSet-Cookie: a=b"
    refusal = check_binding("exp-1", junk, bound_experiment_id=None)
    assert refusal is not None
    assert refusal.problem is MISMATCH
    assert "Set-Cookie" not in refusal.detail
    assert len(refusal.detail) < 200


def test_a_well_formed_header_is_named_in_the_detail() -> None:
    refusal = check_binding("exp-1", "exp-2", bound_experiment_id=None)
    assert refusal is not None
    assert "'exp-2'" in refusal.detail
    assert "'exp-1'" in refusal.detail


def test_the_experiment_id_setting_is_checked() -> None:
    assert check_experiment_id_setting("exp-1") == "exp-1"
    with pytest.raises(ConfigError, match="--experiment-id"):
        check_experiment_id_setting("../exp")
