from pathlib import Path

import cv2
import numpy as np
import pytest

from faceseg.features import (
    compute_features,
    compute_features_tile,
    config_digest,
    feature_halo,
    feature_names,
    resolve_config,
)
from faceseg.features.landmarks import face_frame
from faceseg.io import read_image

FULL = {
    "colour": {"spaces": ["rgb", "hsv", "lab", "grey"], "mean_sizes": [5, 9]},
    "location": {},
    "hog": {"cell_sizes": [4, 8], "orientations": 6},
    "window_hog": {"window": 16, "cell": 4, "block": 2, "orientations": 5},
    "patch_histogram": {"patch_sizes": [8, 16], "bins": 4},
    "landmarks": {"frame": "auto", "distances": True},
}


@pytest.fixture
def image(rng):
    return rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)


@pytest.fixture
def points(rng):
    return rng.uniform([10, 8], [42, 32], (68, 2))


def expected_count(cfg, k):
    colour = 10 * (1 + len(cfg["colour"]["mean_sizes"]))
    hog = len(cfg["hog"]["cell_sizes"]) * (cfg["hog"]["orientations"] + 1)
    phist = len(cfg["patch_histogram"]["patch_sizes"]) * 3 * cfg["patch_histogram"]["bins"]
    lm = 2 + 2 * k + (k if cfg["landmarks"]["distances"] else 0)
    w = cfg["window_hog"]
    blocks = (w["window"] // w["cell"] - w["block"] + 1) ** 2
    whog = blocks * w["block"] ** 2 * w["orientations"]
    return colour + 2 + hog + whog + phist + lm


@pytest.mark.parametrize("k", [5, 68, 106])
def test_feature_count_matches_formula(k):
    names = feature_names(FULL, n_landmarks=k)
    assert len(names) == expected_count(FULL, k)
    assert len(set(names)) == len(names), "feature names must be unique"


def test_shape_contract_dense_and_sampled(image, points):
    dense = compute_features(image, FULL, landmarks=points)
    assert dense.shape == image.shape[:2] + (expected_count(FULL, 68),)
    assert dense.dtype == np.float32 and np.isfinite(dense).all()
    coords = np.array([[0, 0], [39, 51], [20, 7]])
    sampled = compute_features(image, FULL, coords=coords, landmarks=points)
    assert sampled.shape == (3, dense.shape[2])


def test_sampled_pixels_equal_dense_pass(image, points, rng):
    dense = compute_features(image, FULL, landmarks=points)
    coords = np.stack([rng.integers(0, 40, 200), rng.integers(0, 52, 200)], axis=1)
    sampled = compute_features(image, FULL, coords=coords, landmarks=points)
    # float32 box sums (dense) against float64 integral images (sampled)
    np.testing.assert_allclose(sampled, dense[coords[:, 0], coords[:, 1]], rtol=0, atol=1e-5)


@pytest.mark.parametrize("band_pixels", [52 * 16, 52 * 23])
def test_sampled_pixels_in_bands_equal_one_pass(image, points, rng, band_pixels):
    """Large images are sampled band by band (bounded memory); the values are those of one pass."""
    coords = np.stack([rng.integers(0, 40, 300), rng.integers(0, 52, 300)], axis=1)
    one_pass = compute_features(image, FULL, coords=coords, landmarks=points)
    banded = compute_features(image, FULL, coords=coords, landmarks=points, band_pixels=band_pixels)
    np.testing.assert_allclose(banded, one_pass, rtol=0, atol=2e-5)
    none = compute_features(image, FULL, coords=np.zeros((0, 2), int), landmarks=points, band_pixels=band_pixels)
    assert none.shape == (0, one_pass.shape[1])


@pytest.mark.parametrize("tile", [7, 16, 33])
def test_tiles_equal_whole_image(image, points, tile):
    whole = compute_features(image, FULL, landmarks=points)
    h, w = image.shape[:2]
    tiled = np.zeros_like(whole)
    for r in range(0, h, tile):
        for c in range(0, w, tile):
            r1, c1 = min(r + tile, h), min(c + tile, w)
            tiled[r:r1, c:c1] = compute_features_tile(image, FULL, (r, r1), (c, c1), points)
    # Integral images summed from another origin round differently in the last bits.
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=2e-5)


def test_group_order_is_the_registry_order():
    a = feature_names({"location": {}, "colour": {"spaces": ["grey"]}})
    b = feature_names({"colour": {"spaces": ["grey"]}, "location": {}})
    assert a == b == ["grey", "loc_x", "loc_y"]
    assert config_digest({"location": {}, "colour": {"spaces": ["grey"]}}) == config_digest(
        {"colour": {"spaces": ["grey"]}, "location": {}}
    )


def test_colour_values():
    img = np.zeros((2, 3, 3), np.uint8)
    img[0, 0] = (255, 0, 0)  # pure red
    f = compute_features(img, {"colour": {"spaces": ["rgb", "hsv", "lab", "grey"]}})
    names = feature_names({"colour": {"spaces": ["rgb", "hsv", "lab", "grey"]}})
    red = dict(zip(names, f[0, 0]))
    assert red["rgb_r"] == pytest.approx(1) and red["rgb_g"] == 0
    assert red["hsv_h"] == pytest.approx(0) and red["hsv_s"] == pytest.approx(1) and red["hsv_v"] == pytest.approx(1)
    assert red["lab_l"] == pytest.approx(53.24 / 100, abs=0.01)  # CIE L* of sRGB red
    assert red["grey"] == pytest.approx(0.299, abs=1e-3)


def test_local_mean_colour():
    img = np.zeros((9, 9, 3), np.uint8)
    img[4, 4] = 255
    names = feature_names({"colour": {"spaces": ["grey"], "mean_sizes": [3]}})
    assert names == ["grey", "grey_mean3"]
    f = compute_features(img, {"colour": {"spaces": ["grey"], "mean_sizes": [3]}})
    assert f[4, 4, 1] == pytest.approx(1 / 9)
    assert f[3, 3, 1] == pytest.approx(1 / 9)
    assert f[0, 0, 1] == 0
    assert f[0, 0, 0] == 0 and f[4, 4, 0] == pytest.approx(1)


def test_location_values():
    img = np.zeros((4, 10, 3), np.uint8)
    f = compute_features(img, {"location": {}})
    assert f[0, 0].tolist() == pytest.approx([0.05, 0.125])
    assert f[3, 9].tolist() == pytest.approx([0.95, 0.875])


def test_hog_orientation_of_a_vertical_edge():
    img = np.zeros((32, 32, 3), np.uint8)
    img[:, 16:] = 255  # vertical edge: horizontal gradient, orientation 0
    cfg = {"hog": {"cell_sizes": [8], "orientations": 4}}
    names = feature_names(cfg)
    assert names == ["hog_o0_c8", "hog_o1_c8", "hog_o2_c8", "hog_o3_c8", "hog_mag_c8"]
    f = compute_features(img, cfg)
    at_edge = f[16, 16]
    # Orientation 0 rad falls between bin 3 (centre 7pi/8) and bin 0 (centre pi/8), half each.
    assert at_edge[0] == pytest.approx(at_edge[3], rel=1e-5)
    assert at_edge[1] == at_edge[2] == 0
    assert at_edge[4] > 0
    assert np.all(f[16, 2, :4] == 0), "no gradient far from the edge"


def test_patch_histogram_fractions_sum_to_one(image):
    cfg = {"patch_histogram": {"patch_sizes": [5], "bins": 6}}
    f = compute_features(image, cfg)
    assert f.shape[-1] == 18
    for c in range(3):
        np.testing.assert_allclose(f[..., c * 6 : (c + 1) * 6].sum(-1), 1.0, atol=1e-5)


def test_patch_histogram_of_uniform_patch():
    img = np.full((10, 10, 3), (0, 0, 255), np.uint8)  # blue: hue 240, s 1, v 1
    f = compute_features(img, {"patch_histogram": {"patch_sizes": [3], "bins": 4}})
    names = feature_names({"patch_histogram": {"patch_sizes": [3], "bins": 4}})
    vals = dict(zip(names, f[5, 5]))
    assert vals["phist_h2_p3"] == 1 and vals["phist_s3_p3"] == 1 and vals["phist_v3_p3"] == 1


def test_landmark_offsets_in_eye_frame():
    pts = np.zeros((68, 2))
    pts[:] = (50, 50)
    pts[36:42] = (40, 30)  # image-left eye centre
    pts[42:48] = (60, 30)  # image-right eye centre: inter-ocular distance 20
    origin, axes, scale = face_frame(pts)
    assert origin.tolist() == [50, 30] and scale == 20
    img = np.zeros((80, 100, 3), np.uint8)
    cfg = {"landmarks": {"distances": True}}
    names = feature_names(cfg, 68)
    f = compute_features(img, cfg, coords=np.array([[40, 70]]), landmarks=pts)  # pixel x=70, y=40
    vals = dict(zip(names, f[0]))
    assert vals["lm_u"] == pytest.approx(1.0) and vals["lm_v"] == pytest.approx(0.5)
    assert vals["lm_dx_0"] == pytest.approx(1.0) and vals["lm_dy_0"] == pytest.approx(-0.5)
    assert vals["lm_dist_0"] == pytest.approx(np.hypot(1.0, 0.5))


def test_landmark_frame_rotates_with_the_face():
    pts = np.zeros((68, 2))
    pts[:] = (50, 50)
    pts[36:42] = (50, 30)  # face turned 90 degrees: eyes stacked vertically
    pts[42:48] = (50, 50)
    origin, axes, scale = face_frame(pts)
    np.testing.assert_allclose(axes[0], [0, 1])
    assert scale == 20


def test_landmarks_any_point_count_uses_centroid_frame():
    pts = np.array([[10.0, 10.0], [30.0, 10.0], [20.0, 30.0]])
    img = np.zeros((40, 40, 3), np.uint8)
    f = compute_features(img, {"landmarks": {}}, landmarks=pts)
    assert f.shape == (40, 40, 2 + 6)
    with pytest.raises(ValueError, match="known layout"):
        compute_features(img, {"landmarks": {"frame": "eyes"}}, landmarks=pts)


def test_landmarks_required_and_degenerate():
    img = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="no landmarks were given"):
        compute_features(img, {"landmarks": {}})
    with pytest.raises(ValueError, match="degenerate"):
        compute_features(img, {"landmarks": {}}, landmarks=np.full((5, 2), 3.0))


@pytest.mark.parametrize(
    "cfg, message",
    [
        ({}, "at least one group"),
        ({"sift": {}}, "unknown feature group"),
        ({"hog": {"cell_sizes": [0]}}, r"hog.cell_sizes.*positive integers, got 0"),
        ({"hog": {"orientations": 1}}, r"hog.orientations must be an integer in \[2, 36\], got 1"),
        ({"hog": {"cells": [8]}}, "unknown parameters"),
        ({"colour": {"spaces": ["xyz"]}}, r"colour.spaces: unknown value 'xyz'"),
        ({"colour": {"space": ["rgb"]}}, r"colour: unknown parameters \['space'\]"),
        ({"patch_histogram": {"bins": 1}}, r"patch_histogram.bins"),
        ({"landmarks": {"frame": "nose"}}, r"landmarks.frame"),
        ({"location": {"scale": 2}}, r"location: unknown parameters \['scale'\]; it takes none"),
    ],
)
def test_bad_parameters_are_named(cfg, message):
    with pytest.raises(ValueError, match=message):
        resolve_config(cfg)


def test_halo_covers_the_largest_window():
    assert feature_halo({"hog": {"cell_sizes": [8, 32]}}) >= 16
    assert feature_halo({"patch_histogram": {"patch_sizes": [64]}}) >= 32
    assert feature_halo({"location": {}}) == 0


def test_real_image_sampled_in_bands(fasseg_root, rng):
    img = read_image(fasseg_root / "V1" / "Train_RGB" / "1.png")
    cfg = {k: v for k, v in FULL.items() if k != "landmarks"}
    coords = np.stack([rng.integers(0, img.shape[0], 2000), rng.integers(0, img.shape[1], 2000)], axis=1)
    one_pass = compute_features(img, cfg, coords=coords)
    banded = compute_features(img, cfg, coords=coords, band_pixels=40_000)  # bands of 110 rows
    np.testing.assert_allclose(banded, one_pass, rtol=0, atol=2e-5)


def test_real_image_tiles(fasseg_root):
    img = read_image(fasseg_root / "V1" / "Train_RGB" / "1.png")
    cfg = {k: v for k, v in FULL.items() if k != "landmarks"}
    whole = compute_features(img, cfg)
    tile = compute_features_tile(img, cfg, (100, 164), (200, 264))
    np.testing.assert_allclose(tile, whole[100:164, 200:264], atol=2e-5)


def _face_with_elliptic_mouth():
    """68 points: eyes 20 px apart (face scale 20), the mouth points on an ellipse of semi-axes 20 x 10 at (50, 60)."""
    pts = np.full((68, 2), 50.0)
    pts[:17] = np.stack([np.linspace(10, 90, 17), np.full(17, 70.0) + np.linspace(-5, 5, 17) ** 2], 1)  # jaw
    pts[36:42] = (40, 30)
    pts[42:48] = (60, 30)
    t = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    pts[48:68] = np.stack([50 + 20 * np.cos(t), 60 + 10 * np.sin(t)], 1)
    return pts


@pytest.mark.parametrize("k", [68, 106])
def test_landmark_parts_names(k):
    names = feature_names({"landmark_parts": {}}, n_landmarks=k)
    assert len(names) == 3 * 8 and "part_mouth_d2" in names and "part_eye_left_u" in names
    assert len(set(names)) == len(names)


def test_landmark_parts_need_a_known_layout():
    with pytest.raises(ValueError, match=r"known landmark layout \(\[68, 106\] points\), got 5 points"):
        feature_names({"landmark_parts": {}}, n_landmarks=5)
    with pytest.raises(ValueError, match=r"landmark_parts.margin must be a number in \(0, 1\], got 0"):
        resolve_config({"landmark_parts": {"margin": 0}})


def test_landmark_parts_mouth_ellipse_values():
    pts = _face_with_elliptic_mouth()
    cfg = {"landmark_parts": {"margin": 0.1}}
    names = feature_names(cfg, 68)
    img = np.zeros((100, 100, 3), np.uint8)
    # pixels (row, col): the mouth centre, 10 px right of it, 5 px below it
    f = compute_features(img, cfg, coords=np.array([[60, 50], [60, 60], [65, 50]]), landmarks=pts)
    vals = [dict(zip(names, row)) for row in f]
    # Points evenly on the ellipse: variances a^2/2 = 200 and b^2/2 = 50, plus (0.1 * 20)^2 = 4.
    major, minor = np.sqrt(204.0), np.sqrt(54.0)
    assert vals[0]["part_mouth_d2"] == pytest.approx(0, abs=1e-6)
    assert vals[1]["part_mouth_u"] == pytest.approx(10 / major, rel=1e-4)  # major axis points right
    assert vals[1]["part_mouth_v"] == pytest.approx(0, abs=1e-4)
    assert vals[2]["part_mouth_v"] == pytest.approx(5 / minor, rel=1e-4)  # minor axis points down
    assert vals[2]["part_mouth_d2"] == pytest.approx(25 / 54, rel=1e-4)
    # The eyes' points coincide: the margin alone gives them a width of 2 px.
    assert vals[0]["part_eye_left_d2"] == pytest.approx(((50 - 40) ** 2 + (60 - 30) ** 2) / 4, rel=1e-4)


def test_landmark_parts_tiles_equal_whole_image(rng):
    pts = _face_with_elliptic_mouth()
    img = rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)
    cfg = {"location": {}, "landmark_parts": {}}
    whole = compute_features(img, cfg, landmarks=pts)
    tile = compute_features_tile(img, cfg, (30, 70), (20, 64), landmarks=pts)
    np.testing.assert_array_equal(tile, whole[30:70, 20:64])
    coords = np.stack([rng.integers(0, 100, 50), rng.integers(0, 100, 50)], axis=1)
    np.testing.assert_array_equal(compute_features(img, cfg, coords=coords, landmarks=pts),
                                  whole[coords[:, 0], coords[:, 1]])


def _two_tone_face(skin=(200, 150, 120), other=(30, 30, 30)):
    """A 100 x 100 image of one colour with a patch of skin colour round both cheek disks."""
    pts = _face_with_elliptic_mouth()  # eyes (40, 30) and (60, 30): cheeks at (40, 42) and (60, 42), radius 3 px
    img = np.zeros((100, 100, 3), np.uint8)
    img[:] = other
    img[36:49, 34:67] = skin
    return img, pts


def test_face_colour_names_follow_the_formula():
    names = feature_names({"face_colour": {"mean_sizes": [9, 25]}}, n_landmarks=68)
    assert len(names) == 4 * (1 + 2) and names[:4] == ["fc_dl", "fc_da", "fc_db", "fc_de"]
    assert "fc_de_mean25" in names and len(set(names)) == len(names)
    with pytest.raises(ValueError, match=r"face_colour.radius must be a number in \(0, 1\] \(face scales\), got 2"):
        resolve_config({"face_colour": {"radius": 2}})


def test_face_colour_is_zero_on_the_face_skin_and_measures_the_rest():
    from faceseg.features.face_colour import skin_reference

    img, pts = _two_tone_face()
    cfg = {"face_colour": {"mean_sizes": [5]}}
    names = feature_names(cfg, 68)
    f = compute_features(img, cfg, coords=np.array([[42, 50], [80, 10]]), landmarks=pts)
    skin, other = (dict(zip(names, row)) for row in f)
    assert max(abs(v) for v in skin.values()) < 1e-5  # a skin pixel inside skin: no difference, nor of its mean
    expected = cv2.cvtColor(np.array([[[30, 30, 30]]], np.float32) / 255, cv2.COLOR_RGB2Lab)[0, 0] / [100, 127, 127] \
        - skin_reference(img, pts)
    np.testing.assert_allclose([other["fc_dl"], other["fc_da"], other["fc_db"]], expected, atol=1e-5)
    assert other["fc_de"] == pytest.approx(np.linalg.norm(expected), rel=1e-5)
    # The reference follows the face: repaint the cheeks and every difference moves.
    img2, _ = _two_tone_face(skin=(120, 90, 60))
    assert not np.allclose(skin_reference(img2, pts), skin_reference(img, pts))


def test_face_colour_tiles_equal_whole_image(rng):
    img, pts = _two_tone_face()
    img = np.clip(img.astype(int) + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)
    cfg = {"colour": {"spaces": ["lab"], "mean_sizes": [9]}, "face_colour": {"mean_sizes": [9, 25]}}
    whole = compute_features(img, cfg, landmarks=pts)
    # A tile far from the cheeks still measures against the whole image's reference.
    tile = compute_features_tile(img, cfg, (64, 100), (0, 40), landmarks=pts)
    np.testing.assert_allclose(tile, whole[64:100, 0:40], atol=1e-5)
    grid = compute_features_tile(img, cfg, (64, 100), (0, 40), landmarks=pts, stride=4)
    np.testing.assert_allclose(grid, whole[64:100:4, 0:40:4], atol=1e-5)
    coords = np.stack([rng.integers(0, 100, 50), rng.integers(0, 100, 50)], axis=1)
    np.testing.assert_allclose(compute_features(img, cfg, coords=coords, landmarks=pts, band_pixels=100 * 20),
                               whole[coords[:, 0], coords[:, 1]], atol=1e-5)


def test_face_colour_hair_reference_above_the_head_and_inside_the_photo():
    from faceseg.features.face_colour import hair_reference

    img, pts = _two_tone_face()  # eyes at y = 30, 20 px apart: the crown disk is centred 32 px above them
    img[:10] = (90, 60, 20)  # a band of "hair" along the top
    cfg = {"face_colour": {"references": ["skin", "hair"]}}
    names = feature_names(cfg, 68)
    assert names == ["fc_dl", "fc_da", "fc_db", "fc_de", "fh_dl", "fh_da", "fh_db", "fh_de"]
    # The disk (radius 6 px) would sit at y = -2: it is moved down to y = 6, inside the hair band.
    hair = cv2.cvtColor(np.array([[[90, 60, 20]]], np.float32) / 255, cv2.COLOR_RGB2Lab)[0, 0] / [100, 127, 127]
    np.testing.assert_allclose(hair_reference(img, pts), hair, atol=1e-5)
    f = dict(zip(names, compute_features(img, cfg, coords=np.array([[3, 50]]), landmarks=pts)[0]))
    assert abs(f["fh_de"]) < 1e-5 and f["fc_de"] > 0.1  # a hair pixel: hair-coloured, not skin-coloured
    with pytest.raises(ValueError, match=r"face_colour.references: unknown value 'beard'"):
        resolve_config({"face_colour": {"references": ["beard"]}})


def test_face_colour_of_a_face_cut_off_by_the_photo():
    from faceseg.features.face_colour import skin_reference

    img, pts = _two_tone_face()
    # Only the top 40 rows: the cheek disks (y = 39..45) are cut; they move up to fit (y = 33..39).
    top = np.ascontiguousarray(img[:40])
    top[27:36, 34:67] = (200, 150, 120)  # skin above the cut disks too
    skin = cv2.cvtColor(np.array([[[200, 150, 120]]], np.float32) / 255, cv2.COLOR_RGB2Lab)[0, 0] / [100, 127, 127]
    np.testing.assert_allclose(skin_reference(top, pts), skin, atol=1e-5)
    # A crop that holds neither the eyes nor the cheeks (a tile's worth) still gets a reference.
    corner = np.ascontiguousarray(img[60:, 60:])
    assert np.isfinite(skin_reference(corner, pts)).all()
    f = compute_features(corner, {"face_colour": {"references": ["skin", "hair"]}}, landmarks=pts)
    assert f.shape == (40, 40, 8) and np.isfinite(f).all()


#: 106 annotated points of the real LaPa test image 13609937564_5 (486 x 496 px), as published in
#: open-mmlab/mmpose's test data (tests/data/lapa).
REAL_LAPA_LANDMARKS = Path(__file__).parent / "data" / "lapa_13609937564_5_landmarks.txt"


def test_the_lapa_layout_of_the_eye_frame_and_the_parts_matches_real_lapa_points():
    from faceseg.features.landmark_parts import PARTS
    from faceseg.features.landmarks import face_frame
    from faceseg.io import read_landmarks
    from faceseg.landmarks import lapa_to_dlib68

    points = read_landmarks(REAL_LAPA_LANDMARKS, n_points=106)
    origin, axes, scale = face_frame(points, "eyes")
    # The eye frame spans the two pupils (74 and 83): an eye-centre-to-eye-centre line.
    pupils = points[[74, 83]]
    assert np.linalg.norm(origin - pupils.mean(axis=0)) < 0.1 * scale
    assert abs(scale / np.linalg.norm(pupils[1] - pupils[0]) - 1) < 0.1
    assert axes[0, 0] > 0.9  # the image-left eye comes first: the x axis points to the image right
    # Each part's points lie where dlib's layout puts that part on the same face.
    dlib = lapa_to_dlib68(points)
    o68, _, s68 = face_frame(dlib, "eyes")
    assert abs(s68 / scale - 1) < 0.1 and np.linalg.norm(o68 - origin) < 0.1 * scale
    for part, idx in PARTS[106].items():
        centre, centre68 = points[idx].mean(axis=0), dlib[PARTS[68][part]].mean(axis=0)
        assert np.linalg.norm(centre - centre68) < 0.25 * scale, part


@pytest.mark.parametrize("params", [{}, {"window": 32, "cell": 8, "block": 3, "orientations": 6}])
def test_window_hog_is_skimage_hog_of_the_window(params, fasseg_root):
    """On windows of a real face: blocks clear of the window border equal skimage's; the others are close.

    skimage differentiates the window alone (zero gradient on its outer rows and columns); the group
    differentiates the image, which is the only difference.
    """
    from skimage.feature import hog as skimage_hog

    from faceseg.features import window_hog
    from faceseg.io import read_image

    p = window_hog.validate(params)
    image = read_image(fasseg_root / "V1" / "Train_RGB" / "1.png")
    coords = np.array([[256, 177], [150, 100], [380, 250], [200, 60]])
    ours = compute_features(image, {"window_hog": params}, coords=coords)
    n_cells, n_blocks = window_hog.layout(p)
    assert ours.shape == (4, n_blocks * n_blocks * p["block"] ** 2 * p["orientations"])
    grey = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2GRAY)
    half = p["window"] // 2
    for (y, x), values in zip(coords, ours):
        window = grey[y - half : y + half, x - half : x + half]
        theirs = skimage_hog(window, p["orientations"], (p["cell"], p["cell"]), (p["block"], p["block"]),
                             block_norm="L2-Hys", feature_vector=False)
        ours_blocks = values.reshape(theirs.shape)
        np.testing.assert_allclose(ours_blocks[1:-1, 1:-1], theirs[1:-1, 1:-1], rtol=0, atol=1e-5)
        assert np.corrcoef(ours_blocks.ravel(), theirs.ravel())[0, 1] > 0.9  # 0.93-0.99 on these windows


def test_window_hog_parameters_are_checked():
    with pytest.raises(ValueError, match=r"window_hog.window \(60\) must be a multiple of window_hog.cell \(8\)"):
        resolve_config({"window_hog": {"window": 60}})
    with pytest.raises(ValueError, match=r"window_hog.block must be an integer in \[1, 4\], got 5"):
        resolve_config({"window_hog": {"window": 32, "block": 5}})
    assert len(feature_names({"window_hog": {}})) == 1764  # the paper's HOG part


def test_the_icme2017_experiment_is_the_papers_1862_value_descriptor():
    import yaml
    from conftest import REPO

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    names = feature_names(config["experiments"]["icme2017"]["features"])
    assert len(names) == 1862  # 1,764 HOG + 96 HSV histogram bins + 2 location values
    assert sum(n.startswith("whog_") for n in names) == 1764 and sum(n.startswith("phist_") for n in names) == 96
