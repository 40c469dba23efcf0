import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from lapa_fixture import make_lapa  # noqa: E402

FASSEG = (REPO.parent / "shared" / "data" / "fasseg").resolve()


@pytest.fixture(scope="session")
def fasseg_root():
    if not (FASSEG / "V1").is_dir():
        pytest.fail(f"the FASSEG copy is missing at {FASSEG} (see README: Tests)")
    return FASSEG


@pytest.fixture(scope="session")
def lapa_root(tmp_path_factory):
    return make_lapa(tmp_path_factory.mktemp("lapa"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, fasseg_root):
    """A small forest trained through the steps on four real V1 training images (detected landmarks).

    Laid out as the workflow does (results/models/fasseg/tiny/rf.joblib), with
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
    model = root / "results" / "models" / "fasseg" / "tiny" / "rf.joblib"
    model.parent.mkdir(parents=True)
    training.train_model("rf", root / "train.zarr", model,
                         {"n_estimators": 20, "seed": 0, "prior_correction": 1.0, "smooth_sigma": 0},
                         info={"dataset": "fasseg", "experiment": "tiny"})
    return model
