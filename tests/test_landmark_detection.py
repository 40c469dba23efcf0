import numpy as np

from faceseg.io import read_image
from faceseg.landmarks import LandmarkDetector, model_dir


def test_models_ship_with_the_package():
    assert (model_dir() / "shape_predictor_68_face_landmarks.dat").is_file()
    assert (model_dir() / "mmod_human_face_detector.dat").is_file()


def test_detects_68_points_on_a_real_face(fasseg_root):
    image = read_image(fasseg_root / "V1" / "Test_RGB" / "1.png")
    found = LandmarkDetector().detect(image)
    assert found.detector == "hog" and found.n_faces == 1
    assert found.points.shape == (68, 2)
    h, w = image.shape[:2]
    assert (found.points[:, 0] > 0).all() and (found.points[:, 0] < w).all()
    # eyes (36-47) above the mouth (48-67)
    assert found.points[36:48, 1].mean() < found.points[48:68, 1].mean()


def test_no_face_reports_the_reason():
    found = LandmarkDetector(upsample=0, cnn_fallback=True).detect(np.full((80, 80, 3), 128, np.uint8))
    assert found.points is None and found.n_faces == 0
    assert found.reason == "no face found by the dlib HOG and CNN detectors"
