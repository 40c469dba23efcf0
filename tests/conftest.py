import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from lapa_fixture import make_lapa  # noqa: E402

from faceseg.config import DOWNLOADED_FASSEG  # noqa: E402
from faceseg.download import download_fasseg  # noqa: E402


@pytest.fixture(scope="session")
def fasseg_root():
    """The real FASSEG: ``$FASSEG_ROOT``, else the workflow's download (``resources/fasseg``, reused later).

    Offline and without a copy the tests that need it fail saying what to set.
    """
    if os.environ.get("FASSEG_ROOT"):
        root = Path(os.environ["FASSEG_ROOT"]).expanduser().resolve()
        if not (root / "V1").is_dir():
            pytest.fail(f"FASSEG_ROOT={os.environ['FASSEG_ROOT']} holds no V1/ folder; point it at a copy of the "
                        "FASSEG repository (a folder holding V1/ V2/ V3/)")
        return root
    cached = REPO / DOWNLOADED_FASSEG
    if not (cached / "V1").is_dir():
        try:
            download_fasseg(cached)
        except RuntimeError as exc:
            pytest.fail(f"these tests need the FASSEG dataset and could not download it ({exc}). Set FASSEG_ROOT "
                        "to a copy (a folder holding V1/ V2/ V3/), e.g. FASSEG_ROOT=/data/FASSEG make test")
    return cached


@pytest.fixture(scope="session")
def lapa_root(tmp_path_factory):
    return make_lapa(tmp_path_factory.mktemp("lapa"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, fasseg_root):
    """A small forest trained through the steps on four real V1 training images (detected landmarks).

    Laid out as the workflow does (results/models/fasseg/tiny/rf.faceseg), with
    the per-image stores it was trained from.
    """
    from faceseg.steps import extraction, training
    from faceseg.steps import landmarks as landmark_steps

    root = tmp_path_factory.mktemp("tiny_model")
    features = {"colour": {"spaces": ["rgb", "lab"], "mean_sizes": [9]}, "location": {},
                "hog": {"cell_sizes": [8, 16], "orientations": 6}, "landmarks": {}}
    stores = []
    for image_id in ("1", "2", "3", "4"):
        image = fasseg_root / "V1" / "Train_RGB" / f"{image_id}.png"
        lm = root / f"{image_id}.txt"
        landmark_steps.detect_landmarks(image, lm)
        store = root / "stores" / f"{image_id}.zarr"
        labels = fasseg_root / "V1" / "Train_Labels" / f"{image_id}.png"
        extraction.extract_training_features("fasseg", image_id, image, labels, store, features,
                                             {"samples_per_image": 2000, "seed": 0}, lm, 68)
        stores.append(store)
    extraction.merge_training_features(stores, root / "train.zarr")
    model = root / "results" / "models" / "fasseg" / "tiny" / "rf.faceseg"
    model.parent.mkdir(parents=True)
    training.train_model("rf", root / "train.zarr", model,
                         {"n_estimators": 20, "seed": 0, "prior_correction": 1.0, "smooth_sigma": 0},
                         info={"dataset": "fasseg", "experiment": "tiny"})
    return model
