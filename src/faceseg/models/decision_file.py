"""A model's decision parameters as a file beside it: ``<model>.decision.json``.

The parameters are those of :mod:`faceseg.decision`, checked against the model
kind's table (:data:`faceseg.models.kinds.MODEL_KINDS`); the workflow writes the
file and ``faceseg segment`` and the decision step read it.
"""

from __future__ import annotations

import json
from pathlib import Path

from faceseg.io import InputError, atomic_output
from faceseg.models.kinds import model_kind


def check_decision(kind: str, params: dict) -> dict:
    """Every decision parameter of a model of ``kind``, validated, its defaults filled in."""
    return model_kind(kind).resolve_decision(params)


#: What a decision file records beside the parameters: not parameters themselves.
RECORD_KEYS = ("stride", "chosen_on")


def write_decision(kind: str, params: dict, out_path, stride: int | None = None, chosen_on: dict | None = None) -> None:
    """A model's decision parameters (validated, defaults filled in) as JSON.

    ``stride``: the grid the workflow classifies its evaluation images on
    (``segmentation.stride``), kept with them so that ``faceseg segment``
    applies the model as its reported scores did.
    """
    decision = check_decision(kind, params)
    if stride is not None:
        decision["stride"] = int(stride)
    if chosen_on is not None:  # where the parameters were chosen and how each candidate scored
        decision["chosen_on"] = chosen_on
    with atomic_output(out_path) as tmp:
        Path(tmp).write_text(json.dumps(decision, indent=2, sort_keys=True) + "\n")


def _read_json(path) -> dict:
    try:
        content = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a decision parameter file ({exc})") from None
    if not isinstance(content, dict):
        raise InputError(f"{path}: not a decision parameter file (not a JSON object)")
    return content


def read_decision(path, kind: str) -> dict:
    """The decision parameters in ``path`` (written by :func:`write_decision`), validated."""
    content = _read_json(path)
    for key in RECORD_KEYS:
        content.pop(key, None)
    return check_decision(kind, content)


def decision_record(path) -> dict:
    """A decision file as written, ``chosen_on`` without its per-candidate grid (None: configured values)."""
    content = _read_json(path)
    chosen_on = content.get("chosen_on")
    return {**content, "chosen_on": chosen_on and {k: v for k, v in chosen_on.items() if k != "grid"}}


def read_stride(path) -> int | None:
    """The segmentation stride recorded in a decision file (None: not recorded)."""
    stride = _read_json(path).get("stride")
    if stride is not None and (isinstance(stride, bool) or not isinstance(stride, int) or not 1 <= stride <= 8):
        raise InputError(f"{path}: stride must be an integer from 1 to 8, got {stride!r}")
    return stride
