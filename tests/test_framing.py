"""The canonical frame of the workflow's images (faceseg.framing): canvases, their maps, and framed segmentation."""

import cv2
import numpy as np
import pytest

from faceseg.features import compute_features
from faceseg.framing import Canvas, ImageFraming


def _eyes(left, right, n=68):
    """Landmarks whose eye contours (68- or 106-point layout) sit around two eye centres."""
    from faceseg.features.landmarks import EYE_INDICES

    points = np.zeros((n, 2))
    points[:] = (np.asarray(left) + np.asarray(right)) / 2 + [0, 60]
    for centre, idx in zip((left, right), EYE_INDICES[n]):
        points[list(idx)] = centre
    return points


def _picture(h, w):
    ys, xs = np.mgrid[0:h, 0:w]
    return np.dstack([xs * 200 // w, ys * 200 // h, (xs + ys) % 50]).astype(np.uint8)


def test_a_face_at_its_frame_scale_is_used_as_it_is():
    framing = ImageFraming(face_scale=100)
    canvas = framing.canvas((400, 300), _eyes([100, 150], [208, 152]))  # 108 px apart, tilt 1 degree
    assert canvas.is_whole and canvas.zoom == 1.0
    image = _picture(400, 300)
    assert canvas.picture(image) is not image and np.array_equal(canvas.picture(image), image)
    assert canvas.location_map() is None


@pytest.mark.parametrize("n", [68, 106])
def test_a_large_tilted_face_is_scaled_to_the_frame_and_levelled(n):
    framing = ImageFraming(face_scale=64)
    theta = np.radians(20)
    left = np.array([700.0, 800.0])
    right = left + 256 * np.array([np.cos(theta), np.sin(theta)])
    canvas = framing.canvas((1600, 1400), _eyes(left, right, n))
    assert canvas.zoom == pytest.approx(0.25) and canvas.tilt_deg == pytest.approx(20)
    eyes = canvas.points(np.array([left, right]))
    assert eyes[1, 1] == pytest.approx(eyes[0, 1], abs=1e-6)  # level
    assert eyes[1, 0] - eyes[0, 0] == pytest.approx(64)
    # The rotated image's box at a quarter scale, within the extent (6 eye distances each side).
    w, h = canvas.size
    assert w <= 2 * 6 * 64 + 2 and h <= 2 * 6 * 64 + 2


def test_the_canvas_size_depends_on_the_face_not_on_the_pixels():
    framing = ImageFraming(face_scale=64)
    small = framing.canvas((480, 480), _eyes([200.0, 200.0], [280.0, 200.0]))
    large = framing.canvas((1440, 1440), _eyes([600.0, 600.0], [840.0, 600.0]))  # the same photo, 3x the pixels
    assert small.zoom == pytest.approx(0.8) and large.zoom == pytest.approx(64 / 240)
    assert abs(np.prod(small.size) / np.prod(large.size) - 1) < 0.02


def test_the_extent_bounds_a_small_face_in_a_large_photo():
    framing = ImageFraming(face_scale=64, extent=3)
    canvas = framing.canvas((3000, 4000), _eyes([1000.0, 1000.0], [1064.0, 1000.0]))
    assert canvas.is_crop and canvas.size == (3 * 2 * 64 + 1, 3 * 2 * 64 + 1)
    labels = np.zeros((3000, 4000), np.uint8)
    labels[1000, 1032] = 7
    assert canvas.labels(labels).shape == canvas.size[::-1] and (canvas.labels(labels) == 7).sum() == 1
    image = _picture(3000, 4000)
    x0, y0 = (-int(v) for v in canvas.to_canvas[:, 2])
    assert np.array_equal(canvas.picture(image), image[y0 : y0 + canvas.size[1], x0 : x0 + canvas.size[0]])


def test_maps_on_the_canvas_come_back_to_the_image_pixels():
    framing = ImageFraming(face_scale=64)
    theta = np.radians(12)
    left = np.array([500.0, 600.0])
    canvas = framing.canvas((1200, 1000), _eyes(left, left + 160 * np.array([np.cos(theta), np.sin(theta)])))
    image = cv2.GaussianBlur(_picture(1200, 1000), (0, 0), 8).astype(np.float32)
    on_canvas = canvas.picture(image)
    for stride in (1, 4):
        back = canvas.image_maps(np.ascontiguousarray(on_canvas[::stride, ::stride]), stride)
        assert back.shape == (1200, 1000, 3)
        ys, xs = np.mgrid[0:1200, 0:1000]
        m = canvas.to_canvas
        u, v = m[0, 0] * xs + m[0, 1] * ys + m[0, 2], m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
        inside = (u >= 0) & (v >= 0) & (u <= canvas.size[0] - 1) & (v <= canvas.size[1] - 1)
        inner = cv2.erode(inside.astype(np.uint8), np.ones((9, 9))).astype(bool)
        assert np.abs(back - image)[inner].mean() < 1.5


def test_location_features_on_the_canvas_are_those_of_the_image_pixels_beneath():
    framing = ImageFraming(face_scale=64)
    canvas = framing.canvas((900, 700), _eyes([300.0, 400.0], [440.0, 460.0]))
    w, h = canvas.size
    on_canvas_pixels = np.array([[h // 2, w // 2], [2 * h // 3, 2 * w // 3], [h // 2, w // 3], [h // 3, w // 3]])
    on_canvas = compute_features(canvas.picture(_picture(900, 700)), {"location": {}}, coords=on_canvas_pixels,
                                 location_map=canvas.location_map())
    on_image = compute_features(_picture(900, 700), {"location": {}}, coords=canvas.image_pixels(on_canvas_pixels))
    # The image pixel nearest the canvas pixel: within half an image pixel of its position.
    assert np.abs(on_canvas[:, 0] - on_image[:, 0]).max() <= 0.5 / 700 + 1e-6
    assert np.abs(on_canvas[:, 1] - on_image[:, 1]).max() <= 0.5 / 900 + 1e-6


def test_a_canvas_record_round_trips():
    canvas = ImageFraming(face_scale=64).canvas((900, 700), _eyes([300.0, 400.0], [440.0, 460.0]))
    again = Canvas.from_record(canvas.record(), (900, 700))
    assert np.allclose(again.to_canvas, canvas.to_canvas) and again.size == canvas.size
    assert again.zoom == canvas.zoom and Canvas.from_record(None, (900, 700)).is_whole


def test_framing_settings_are_checked():
    assert ImageFraming.of(None) is None and ImageFraming.of({"face_scale": None}) is None
    assert ImageFraming.of({"face_scale": 64}).extent == 6.0
    with pytest.raises(ValueError, match=r"framing.face_scale must be a positive number, got -1"):
        ImageFraming.of({"face_scale": -1})
    with pytest.raises(ValueError, match=r"framing.max_rescale must be at least 1, got 0.5"):
        ImageFraming.of({"face_scale": 64, "max_rescale": 0.5})


def test_a_framed_model_segments_a_photo_at_three_times_its_pixels_like_the_photo(tiny_model, fasseg_root):
    """The same face at 3x the pixels: framed, the model sees it at its training scale and labels it alike."""
    from faceseg.datasets import FASSEG
    from faceseg.io import read_image, read_landmarks
    from faceseg.metrics import confusion_matrix, scores
    from faceseg.models import load_model
    from faceseg.segment import decision_proba, framed_grid

    model = load_model(tiny_model)
    framed = load_model(tiny_model)
    framed.info["framing"] = {"face_scale": model.info["face_framing"]["scale"]}
    image = read_image(fasseg_root / "V1" / "Train_RGB" / "1.png")
    points = read_landmarks(tiny_model.parents[3].parent / "1.txt")
    big = cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    big_points = points * 3 + 1  # pixel centres: x' = 3x + 1

    def labels(m, picture, landmarks):
        grid, canvas = framed_grid(m, picture, landmarks, 256, stride=4)
        return decision_proba(grid, 4, picture.shape[:2], canvas=canvas).argmax(axis=2), canvas

    reference, _ = labels(model, image, points)
    unframed, _ = labels(model, big, big_points)
    seen, canvas = labels(framed, big, big_points)
    assert canvas.zoom == pytest.approx(1 / 3, rel=0.02) and seen.shape == big.shape[:2]
    upsampled = cv2.resize(reference.astype(np.uint8), big.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    framed_iou, unframed_iou = (scores(confusion_matrix(upsampled, labels_, 6), FASSEG.class_names)["mean_iou"]
                                for labels_ in (seen, unframed))
    print(f"mean IoU against the photo's own labels: framed {framed_iou:.3f}, unframed {unframed_iou:.3f}")
    assert framed_iou > 0.85
    # Unframed, the features see a face three times too large: the labels differ far more.
    assert unframed_iou < framed_iou - 0.1


def test_validation_scores_a_large_image_on_every_kth_pixel_of_its_full_decision():
    from faceseg.steps.validation import score_image, score_step

    assert score_step((600, 600)) == 1 and score_step((1000, 1000)) == 2 and score_step((1494, 1424)) == 2
    assert score_step((3000, 4000)) == 6
    canvas = ImageFraming(face_scale=64).canvas((1494, 1424), _eyes([600.0, 700.0], [800.0, 730.0]))
    rng = np.random.default_rng(0)
    stride = 4
    w, h = canvas.size
    grid = rng.random((-(-h // stride), -(-w // stride), 3)).astype(np.float32)
    full = canvas.image_maps(grid, stride)
    # The same positions; OpenCV's warp rounds them to 1/32 pixel, so the values agree closely, not bit for bit.
    assert np.abs(canvas.image_maps(grid, stride, step=2) - full[::2, ::2]).max() < 0.05
    truth = rng.integers(0, 3, (1494, 1424)).astype(np.uint8)
    scored = score_image(grid, stride, (1494, 1424), canvas, truth, [None], [0], None, 3)[0]
    from faceseg.metrics import confusion_matrix

    every_pixel_at_step = confusion_matrix(truth[::2, ::2], full[::2, ::2].argmax(axis=2), 3)
    assert scored.sum() == every_pixel_at_step.sum() == 747 * 712
    assert np.abs(scored - every_pixel_at_step).sum() < 0.01 * scored.sum()
