"""The model's compile options (`brusim.model.jit`): a rule compiled without a CPython entry
point still answers a call from Python, with the numbers compiled callers get."""

from __future__ import annotations

import numpy as np

from brusim.model.jit import kernel, rule


@rule
def _scaled_sum(values: np.ndarray, factor: float) -> float:
    total = 0.0
    for v in values:
        total += v * factor
    return total


@kernel
def _through_compiled_code(values: np.ndarray) -> float:
    return _scaled_sum(values, 0.5) + _scaled_sum(values / 0.0, 0.0)  # numpy's error model


def test_a_rule_called_from_python_equals_the_rule_called_by_a_kernel() -> None:
    values = np.array([1.0, 2.5, 4.0])
    from_python = _scaled_sum(values, 0.5)
    assert from_python == 3.75
    got = _through_compiled_code(values)
    assert np.isnan(got)  # inf * 0: nan, not a ZeroDivisionError
    assert _scaled_sum(values, 0.5) == from_python  # the Python copy is made once


def test_the_model_rules_have_no_python_entry_point_and_the_kernels_do() -> None:
    from brusim.model import rng, sorting, users

    assert type(sorting.stable_argsort).__name__ == "_CompiledOnly"
    assert type(users.purchases).__name__ == "_CompiledOnly"
    assert type(users.users_step).__name__ == "CPUDispatcher"
    assert type(rng.uniforms).__name__ == "CPUDispatcher"
    order = sorting.stable_argsort(np.array([0.3, 0.1, 0.3, 0.2]))
    assert order.tolist() == [1, 3, 0, 2]
