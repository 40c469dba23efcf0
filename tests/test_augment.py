"""Training-time augmentation: mirrored landmarks, copies of a training image, the shared sample budget."""

import numpy as np
import pytest

from faceseg import augment
from faceseg.datasets import FASSEG, LAPA
from faceseg.io import read_image
from faceseg.landmarks import LandmarkDetector


def test_the_mirror_numbering_matches_dlib_on_a_flipped_photo(fasseg_root):
    assert sorted(augment.MIRROR_68) == list(range(68))
    assert (augment.MIRROR_68[augment.MIRROR_68] == np.arange(68)).all()  # mirroring twice: the same face
    image = read_image(fasseg_root / "V1" / "Train_RGB" / "1.png")
    detector = LandmarkDetector()
    points = detector.detect(image).points
    flipped = detector.detect(np.ascontiguousarray(image[:, ::-1])).points
    w = image.shape[1]
    mirrored = np.c_[w - 1 - points[:, 0], points[:, 1]][augment.MIRROR_68]
    error = np.linalg.norm(mirrored - flipped, axis=1)
    assert np.median(error) < 3, np.median(error)  # px; dlib is not exactly mirror-symmetric


def test_left_and_right_classes_swap_under_a_flip():
    swap = augment.mirrored_classes(LAPA.class_names)
    names = list(LAPA.class_names)
    assert names[swap[names.index("left_eye")]] == "right_eye"
    assert names[swap[names.index("right_eyebrow")]] == "left_eyebrow"
    assert names[swap[names.index("nose")]] == "nose"
    assert (augment.mirrored_classes(FASSEG.class_names) == np.arange(6)).all()


def test_bad_augment_entries_are_named():
    with pytest.raises(ValueError, match="sampling.augment: unknown key"):
        augment.validate({"rotate": 10})
    with pytest.raises(ValueError, match="sampling.augment.rotate_deg must be a number from 0 to 45"):
        augment.validate({"rotate_deg": 90})
    assert augment.validate(None) == augment.DEFAULTS


def test_copies_share_the_sample_budget_and_off_changes_nothing(fasseg_root, tmp_path):
    from faceseg.steps.extraction import sample_training_image
    from faceseg.steps.landmarks import detect_landmarks

    image = fasseg_root / "V1" / "Train_RGB" / "2.png"
    labels = fasseg_root / "V1" / "Train_Labels" / "2.png"
    lm = tmp_path / "2.txt"
    detect_landmarks(image, lm)
    config = {"colour": {"spaces": ["rgb"]}, "location": {}, "landmarks": {}}
    plain = sample_training_image("fasseg", "2", image, labels, config, {"samples_per_image": 900, "seed": 0}, lm, 68)
    off = sample_training_image("fasseg", "2", image, labels, config,
                                {"samples_per_image": 900, "seed": 0, "augment": {"copies": 0}}, lm, 68)
    np.testing.assert_array_equal(plain[0], off[0])
    on = sample_training_image("fasseg", "2", image, labels, config,
                               {"samples_per_image": 900, "seed": 0,
                                "augment": {"copies": 2, "flip": True, "rotate_deg": 10, "scale": 0.1,
                                            "brightness": 0.2, "colour": 0.1}}, lm, 68)
    X, y = on[0], on[1]
    assert len(y) == len(plain[1]) == 900
    assert y.max() < 6  # pixels brought in from outside the image are never sampled
    # the copies' rows differ from the image's: other colours and other positions
    assert not np.allclose(X[300:], plain[0][300:])
