"""Parameter checks shared by the feature groups; errors name the parameter and the value."""

from __future__ import annotations


def check_choices(name: str, values, allowed) -> None:
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(f"{name} must be a non-empty list, got {values!r}")
    for v in values:
        if v not in allowed:
            raise ValueError(f"{name}: unknown value {v!r}; choose from {sorted(allowed)}")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} lists a value twice: {values!r}")


def check_sizes(name: str, values, allow_empty: bool = False) -> None:
    if not isinstance(values, (list, tuple)) or (not values and not allow_empty):
        raise ValueError(f"{name} must be a {'' if allow_empty else 'non-empty '}list of window sizes, got {values!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}: window sizes must be positive integers, got {v!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} lists a size twice: {values!r}")


def check_int(name: str, value, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")


def with_defaults(group: str, params: dict, defaults: dict) -> dict:
    """``params`` over ``defaults``, refusing keys the group does not know."""
    unknown = set(params) - set(defaults)
    if unknown:
        known = f"known: {sorted(defaults)}" if defaults else "it takes none"
        raise ValueError(f"{group}: unknown parameters {sorted(unknown)}; {known}")
    return {**defaults, **params}
