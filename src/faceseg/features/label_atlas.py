"""Label atlas features: the training images' labels carried onto this face by its landmarks.

For each class, ``atlas_<class>`` is the fraction of the atlas images whose
label at the pixel's landmark-aligned position (a thin-plate spline on the
landmarks) is that class (:mod:`faceseg.atlas`). The channels sum to 1: a
shape prior for parts whose drawn outline follows the landmarks (an eye's
blob, the nose, the lips) that the per-landmark offsets describe only piece
by piece.

The atlas comes with the computation (``atlas=`` of the feature functions):
the pipeline builds it from the training split, leaves a training image's own
labels out when describing that image, and saves it inside each model.
``classes``: the dataset's class names, in label order (the pipeline fills it
in; it names the channels and must match the atlas).
"""

from __future__ import annotations

import numpy as np

from faceseg.features._params import check_int, with_defaults

DEFAULTS = {"atlases": 20, "classes": None}


def validate(params: dict) -> dict:
    params = with_defaults("label_atlas", params, DEFAULTS)
    check_int("label_atlas.atlases", params["atlases"], 1)
    classes = params["classes"]
    if (not isinstance(classes, (list, tuple)) or not classes or not all(isinstance(c, str) and c for c in classes)
            or len(set(classes)) != len(classes)):
        raise ValueError(f"label_atlas.classes must be the dataset's class names (distinct, in label order), "
                         f"got {classes!r}")
    return {**params, "classes": list(classes)}


def names(params: dict, n_landmarks) -> list[str]:
    return [f"atlas_{c}" for c in params["classes"]]


def halo(params: dict) -> int:
    return 0


def compute(ctx, params: dict, out: np.ndarray) -> np.ndarray:
    atlas = ctx.atlas
    if list(atlas.class_names) != params["classes"]:
        raise ValueError(f"label atlas classes {list(atlas.class_names)} are not label_atlas.classes "
                         f"{params['classes']}")
    y, x = ctx.full_coords()
    out[:] = atlas.transfer(ctx.landmarks, y, x)
    return out
