"""Head pose from segmentation (faceseg.pose, faceseg.steps.pose) and its workflow rules."""

import csv
import json
import math

import numpy as np
import pytest
from PIL import Image
from workflow_run import snakemake, write_config

from faceseg import pose as headpose
from faceseg.datasets import fasseg_person, fasseg_pose

CLASSES = ["background", "skin", "hair", "eyes", "nose", "mouth"]
POSES = ["-30", "-15", "0", "+15", "+30"]


def test_scores_on_a_hand_computed_example():
    truth = ["-15", "0", "0", "+15", "+30"]
    predicted = ["-15", "+15", "0", "+30", None]  # errors 0, 15, 0, 15, 30 (no estimate: 0 deg)
    s = headpose.pose_scores(truth, predicted, POSES)
    assert s["n_images"] == 5
    assert s["mae_deg"] == pytest.approx(60 / 5)
    assert s["accuracy"] == pytest.approx(2 / 5)
    assert s["per_pose_accuracy"] == {"-30": None, "-15": 1.0, "0": 0.5, "+15": 0.0, "+30": 0.0}
    confusion = np.array(s["confusion"])
    assert confusion.sum() == 5 and np.trace(confusion) == 2
    assert confusion[POSES.index("+30"), POSES.index("0")] == 1  # the photo without an estimate


def _grids(n_poses, h=4, w=5):
    """Per-pose maps where pose 1 is sure of "nose" on the left half and pose 2 sure of "skin" on the right."""
    g = np.full((n_poses, h, w, 6), 1 / 6, np.float32)
    g[1, :, :2] = 0.02
    g[1, :, :2, CLASSES.index("nose")] = 0.9
    g[2, :, 2:] = 0.02
    g[2, :, 2:, CLASSES.index("skin")] = 0.9
    return g


def test_vote_counts_only_face_part_pixels_of_the_most_confident_pose():
    counts = headpose.vote_counts(_grids(3), CLASSES)
    # Pose 1 wins the 8 left pixels (nose: they vote); pose 2 wins the 12 others, labelled skin: no vote.
    assert counts.tolist() == [0, 8, 0]
    winner = headpose.winner_map(_grids(3))
    assert winner.shape == (4, 5, 6)
    assert winner[0, 0].argmax() == CLASSES.index("nose") and winner[0, 4].argmax() == CLASSES.index("skin")


def test_a_mirror_reverses_the_votes_and_flips_the_maps():
    evidence = headpose.PoseEvidence(POSES)
    grids = np.random.default_rng(0).dirichlet(np.ones(6), size=(5, 8, 10)).astype(np.float32)
    evidence.add("a", grids, CLASSES)
    mirrored = headpose.descriptor("vote+maps", evidence.counts["a"][::-1], evidence.winners["a"][:, ::-1]
                                   .astype(np.float32))
    assert np.allclose(evidence.features("vote+maps", "a", mirrored=True), mirrored)
    votes = evidence.features("vote", "a")
    assert np.allclose(evidence.features("vote", "a", mirrored=True), votes[::-1])
    assert votes.sum() == pytest.approx(1.0)


def test_evidence_round_trip(tmp_path):
    evidence = headpose.PoseEvidence(POSES)
    for k, image_id in enumerate(["0/personne01146+0+0", "+15/personne02146+0+15"]):
        evidence.add(image_id, np.random.default_rng(k).dirichlet(np.ones(6), size=(5, 6, 7)), CLASSES)
    evidence.save(tmp_path / "e.npz")
    back = headpose.PoseEvidence.load([tmp_path / "e.npz"])
    assert back.poses == POSES and list(back.counts) == list(evidence.counts)
    for image_id in evidence.counts:
        assert back.vote(image_id) == evidence.vote(image_id)
        assert np.array_equal(back.winners[image_id], evidence.winners[image_id])


def test_evidence_keeps_every_map_and_reads_coarser_strides(tmp_path):
    evidence = headpose.PoseEvidence(POSES)
    grids = np.random.default_rng(3).dirichlet(np.ones(6), size=(5, 9, 8)).astype(np.float32)
    appearance = (np.arange(4, dtype=np.float32), np.arange(4, dtype=np.float32)[::-1])
    evidence.add("a", grids, CLASSES, geometry=np.array([10.0, 0.2, np.nan]), appearance=appearance)
    evidence.save(tmp_path / "e.npz")
    back = headpose.PoseEvidence.load([tmp_path / "e.npz"])
    assert np.array_equal(back.maps["a"], grids.astype(np.float16))
    assert np.array_equal(back.geometry["a"], [10.0, 0.2, np.nan], equal_nan=True)
    assert np.array_equal(back.appearance["a"][1], appearance[1])
    # Twice the stride: the vote of every second map pixel of every second row.
    coarse = back.subsampled(2)
    assert coarse.maps["a"].shape == (5, 5, 4, 6)
    assert np.array_equal(coarse.counts["a"], headpose.vote_counts(grids.astype(np.float16)[:, ::2, ::2], CLASSES))
    assert back.descriptors() == list(headpose.DESCRIPTORS)
    # A mirror negates the geometry and takes the mirrored appearance.
    plain = back.features("vote+geometry+appearance", "a")
    mirrored = back.features("vote+geometry+appearance", "a", mirrored=True)
    assert np.array_equal(mirrored[5:8], -plain[5:8], equal_nan=True)
    assert np.array_equal(mirrored[8:], appearance[1]) and np.array_equal(plain[8:], appearance[0])
    with pytest.raises(ValueError, match="unknown pose descriptor 'vote\\+pose'"):
        back.features("vote+pose", "a")


#: dlib's 68 points of a mirror image: the index each point takes.
MIRROR_68 = ([*range(16, -1, -1)] + [*range(26, 21, -1)] + [*range(21, 16, -1)] + [27, 28, 29, 30]
             + [35, 34, 33, 32, 31] + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
             + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])


def test_landmark_geometry_changes_sign_in_a_mirror_image():
    w, h = 469, 512
    rng = np.random.default_rng(0)
    # A face turned to one side: the nose and the jaw's far end shifted, the far eye narrower.
    face = np.column_stack([np.linspace(150, 330, 68), np.linspace(200, 380, 68)]) + rng.normal(0, 3, (68, 2))
    face[0], face[16] = (140, 250), (320, 250)
    face[30] = (260, 300)
    face[36], face[39], face[42], face[45] = (170, 240), (210, 240), (250, 240), (275, 240)
    g = headpose.landmark_geometry(face, (h, w))
    mirror = face[MIRROR_68].copy()
    mirror[:, 0] = w - mirror[:, 0]
    gm = headpose.landmark_geometry(mirror, (h, w))
    assert g[1] == pytest.approx(30 / 180) and g[2] == pytest.approx(np.log(40 / 25))
    assert gm[1:] == pytest.approx(-g[1:])
    assert gm[0] == pytest.approx(-g[0], abs=0.5)  # solvePnP's yaw, to its iterations' precision
    assert np.isnan(headpose.landmark_geometry(None, (h, w))).all()


def test_head_appearance_of_a_mirror_is_that_of_the_flipped_box():
    grey = np.random.default_rng(0).integers(0, 255, (120, 100)).astype(np.uint8)
    plain, mirrored = headpose.head_appearance(grey, (10, 89, 20, 79))
    assert plain.shape == (324,)
    flipped, again = headpose.head_appearance(grey[:, ::-1], (10, 89, 100 - 1 - 79, 100 - 1 - 20))
    assert np.allclose(flipped, mirrored, atol=1e-6) and np.allclose(again, plain, atol=1e-6)


def _project(yaw_deg, w=384, h=288, distance=1500.0):
    """The six model points of the generic face turned by ``yaw_deg``, seen by the baseline's camera."""
    a = math.radians(yaw_deg)
    rot = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    pts = headpose.FACE_MODEL_3D @ rot.T + [0, 0, distance]
    x = w * pts[:, 0] / pts[:, 2]
    y = w * pts[:, 1] / pts[:, 2]
    points = np.zeros((68, 2))
    points[list(headpose.FACE_MODEL_POINTS)] = np.column_stack([x + w / 2, h / 2 - y])
    return points


@pytest.mark.parametrize("yaw", [-40, -15, 0, 20, 45])
def test_solvepnp_recovers_a_known_yaw(yaw):
    # Landmarks made with the baseline's own camera from the model turned by ``yaw``: that rotation comes back.
    assert headpose.landmark_yaw(_project(yaw), (288, 384)) == pytest.approx(yaw, abs=0.5)


def test_yaw_calibration_maps_to_the_nearest_pose():
    cal = headpose.YawCalibration.fit([-20.0, 0.0, 20.0, float("nan")], [30, 0, -30, 0])
    assert cal.slope == pytest.approx(-1.5) and cal.intercept == pytest.approx(0.0)
    assert cal.pose(9.0, POSES) == "-15"  # -13.5 deg
    assert cal.pose(float("nan"), POSES) is None


def test_classifier_learns_separable_evidence_with_mirrors():
    # Each pose's photos win a vote for their own pose: the "vote" descriptor separates them.
    poses = ["-15", "0", "+15"]
    evidence = headpose.PoseEvidence(poses)
    ids, truth, persons = [], [], []
    for person in (1, 2, 3):
        for k, pose in enumerate(poses):
            grids = np.full((3, 6, 6, 6), 0.1, np.float32)
            grids[k, 2:4, 1:5, CLASSES.index("eyes")] = 0.8
            image_id = f"{pose}/personne0{person}146+0{pose}"
            evidence.add(image_id, grids, CLASSES)
            ids.append(image_id)
            truth.append(pose)
            persons.append(person)
    clf = headpose.choose_classifier(evidence, ids, truth, persons, kinds=("vote",))
    assert clf.kind == "vote" and clf.mirrors
    assert clf.cv["vote"]["accuracy"] == 1.0 and clf.cv["vote"]["mae_deg"] == 0.0
    assert clf.predict(evidence, ids) == truth


def test_predict_proba_grids_equals_one_model_at_a_time(tiny_model, fasseg_root):
    from faceseg.io import read_image
    from faceseg.models import load_model
    from faceseg.segment import predict_proba_grid, predict_proba_grids
    from faceseg.steps.landmarks import landmarks_if_needed

    model = load_model(tiny_model)
    image = read_image(fasseg_root / "V1" / "Train_RGB" / "1.png")
    landmarks = landmarks_if_needed(model.feature_config, tiny_model.parents[3].parent / "1.txt", image.shape, 68)
    both = predict_proba_grids([model, model], image, landmarks, 128, stride=4)
    one = predict_proba_grid(model, image, landmarks, 128, stride=4)
    assert both.shape == (2, *one.shape) and np.array_equal(both[0], one) and np.array_equal(both[1], one)


@pytest.fixture(scope="module")
def two_pose_root(tmp_path_factory, fasseg_root):
    """A full-download V3 layout of real photos at -15 and +15 degrees (links to the shared copy).

    Train: persons 1 and 2. Test: person 3, labelled at -15 only, as the
    published Test part leaves some poses unlabelled.
    """
    root = tmp_path_factory.mktemp("v3_two_poses")
    for pose in ("-15", "+15"):
        for path in sorted((fasseg_root / "V3" / "Train_RGB" / pose).iterdir()):
            person = fasseg_person(path.stem)
            if person > 3:
                continue
            split = "Train" if person < 3 else "Test"
            parts = [("RGB", "Train_RGB")]
            if split == "Train" or pose == "-15":
                parts.append(("labels", "Train_labels"))
            for kind, source in parts:
                folder = root / "V3" / f"{split}_{kind}" / pose
                folder.mkdir(parents=True, exist_ok=True)
                (folder / path.name).symlink_to(fasseg_root / "V3" / source / pose / path.name)
    return root


def test_v3_run_writes_the_pose_table(tmp_path, two_pose_root):
    """End to end: per-pose models, out-of-fold evidence, the classifier, the baseline and the table."""
    write_config(tmp_path, fasseg_root=str(two_pose_root), fasseg_version="V3", v3_holdout_persons=None,
                 run_experiments=["grey-loc"], max_images={"train": None, "test": None},
                 pose={"experiments": ["grey-loc"], "models": ["rf"], "stride": 8})
    snakemake(tmp_path)
    reports = tmp_path / "results/reports/fasseg-V3"
    with open(reports / "pose_images.csv") as fh:
        photos = list(csv.DictReader(fh))
    # Person 3's four test photos (two series, two poses), each with its folder's pose and an estimate per method.
    assert len(photos) == 4
    assert {r["pose"] for r in photos} == {"-15", "+15"}
    assert all(fasseg_person(r["image_id"]) == 3 and fasseg_pose(r["image_id"]) == r["pose"] for r in photos)
    methods = [m for m in photos[0] if m not in ("image_id", "pose")]
    assert methods == ["landmarks: solvePnP yaw", "grey-loc / rf: pixel vote", "grey-loc / rf: pose classifier"]
    with open(reports / "pose.csv") as fh:
        table = {r["method"]: r for r in csv.DictReader(fh)}
    for method in methods:  # the table's figures are those of the per-photo estimates
        estimated = [r[method] or "0" for r in photos]
        errors = [abs(int(e) - int(r["pose"])) for e, r in zip(estimated, photos)]
        assert float(table[method]["mae_deg"]) == pytest.approx(np.mean(errors))
        assert float(table[method]["accuracy"]) == pytest.approx(np.mean([e == 0 for e in errors]))
        assert table[method]["n_images"] == "4"
    assert float(table["published: pixel-based (ICME 2017)"]["accuracy"]) == 0.774
    assert (reports / "pose_confusion.png").stat().st_size > 0
    text = (reports / "pose.md").read_text()
    assert "ICME 2017" in text and "the test split" in text
    # Each row says who trained it and who was scored.
    assert table["grey-loc / rf: pixel vote"]["protocol"] == "trained on persons 1, 2, scored on persons 3"
    assert table["published: pixel-based (ICME 2017)"]["protocol"] == "trained on persons 1-7, tested on persons 8-15"
    # The cross-validation by person: every pose model's maps stored once (at pose.stride) and read back.
    evidence = headpose.PoseEvidence.load([tmp_path / f"results/pose/fasseg-V3/grey-loc/rf/train/person0{p}.npz"
                                           for p in (1, 2)])
    assert len(evidence.maps) == 8 and all(i in evidence.appearance for i in evidence.maps)
    some = next(iter(evidence.maps))
    shape = Image.open(two_pose_root / "V3" / "Train_RGB" / f"{some}.png").size[::-1]
    assert evidence.maps[some].shape == (2, -(-shape[0] // 8), -(-shape[1] // 8), 6)
    with open(reports / "pose_cv.csv") as fh:
        cv = list(csv.DictReader(fh))
    vote = {r["fold"]: r for r in cv if r["method"] == "grey-loc / rf: pixel vote"}
    assert set(vote) == {"person01", "person02", "pooled"} and vote["pooled"]["n_images"] == "8"
    for fold in ("person01", "person02"):
        held = [i for i in evidence.maps if fasseg_person(i) == int(fold[-2:])]
        right = np.mean([evidence.vote(i) == fasseg_pose(i) for i in held])
        assert vote[fold]["n_images"] == "4" and float(vote[fold]["accuracy"]) == pytest.approx(right)
    candidates = {r["method"].split(", ", 1)[1] for r in cv if "pose classifier" in r["method"]}
    assert candidates == set(headpose.DESCRIPTORS)
    cv_text = (reports / "pose_cv.md").read_text()
    assert "(chosen" in cv_text and "landmarks: solvePnP yaw" in cv_text
    # Methods compared on the same photos: the vote, the chosen classifier and the baseline, pairwise.
    paired = [ln for ln in cv_text.split("## Paired comparisons")[1].split("\n## ")[0].splitlines()
              if ln.startswith("| grey-loc") or ln.startswith("| landmarks")]
    assert len(paired) == 3 and any("pixel vote" in ln and "(chosen" not in ln for ln in paired)
    pose_paired = text.split("## Paired comparisons")[1].split("\n## ")[0]
    assert "| grey-loc / rf: pixel vote | grey-loc / rf: pose classifier |" in pose_paired
    # The same cross-validation at twice the stride, from the stored maps (faceseg pose-cv).
    from faceseg.cli import main

    assert main(["pose-cv", str(tmp_path / "results/pose/fasseg-V3/grey-loc/rf/train"), "--stride", "8",
                 "--step", "2", "-o", str(tmp_path / "cv16")]) == 0
    with open(tmp_path / "cv16.csv") as fh:
        coarse = {r["fold"]: r for r in csv.DictReader(fh) if r["method"] == "grey-loc / rf: pixel vote"}
    coarse_evidence = evidence.subsampled(2)
    right = np.mean([coarse_evidence.vote(i) == fasseg_pose(i) for i in coarse_evidence.maps])
    assert float(coarse["pooled"]["accuracy"]) == pytest.approx(right)
    assert "pose.stride 16" in (tmp_path / "cv16.md").read_text()
    # per_pose: each labelled test photo segmented by its own pose's model, read from the stored maps,
    # scores as that model run on the photo does.
    from faceseg.datasets import FASSEG, read_labels
    from faceseg.io import read_image
    from faceseg.metrics import confusion_matrix, scores
    from faceseg.models import load_model
    from faceseg.segment import predict_proba_image

    with open(reports / "per_pose.csv") as fh:
        own = [r for r in csv.DictReader(fh) if r["experiment_model"] == "grey-loc / rf (own-pose models)"]
    assert [(r["pose"], r["n_images"]) for r in own] == [("-15", "2")]
    model = load_model(tmp_path / "results/models/fasseg-V3/grey-loc/pose/all/rf/-15.faceseg")
    total = 0
    for path in sorted((two_pose_root / "V3" / "Test_labels" / "-15").iterdir()):
        labels = read_labels(FASSEG, path)
        image = read_image(two_pose_root / "V3" / "Test_RGB" / "-15" / path.name)
        total = total + confusion_matrix(labels, predict_proba_image(model, image, stride=8).argmax(axis=2), 6)
    # The maps are stored as float16: a near tie may fall the other way.
    assert float(own[0]["pixel_accuracy"]) == pytest.approx(scores(total, FASSEG.class_names)["pixel_accuracy"],
                                                            abs=2e-4)
    # The segmentation scores only the labelled photos; the pose table scores all four.
    metrics = json.loads((reports / "grey-loc/rf/metrics.json").read_text())
    assert metrics["n_images"] == 2
    # Out of fold: person 1's photos were described by models that never saw person 1.
    from faceseg.models import load_model

    models = tmp_path / "results/models/fasseg-V3/grey-loc/pose"
    seen = load_model(models / "without-person01/rf/+15.faceseg").info["training_images"]
    assert seen and all(fasseg_person(i) == 2 and fasseg_pose(i) == "+15" for i in seen)
    everyone = load_model(models / "all/rf/-15.faceseg").info["training_images"]
    assert {fasseg_person(i) for i in everyone} == {1, 2}
    # The tree-count benchmark: a forest cut to its first k trees is the forest k trees grow on the same
    # rows, and with every tree it scores the run's out-of-fold photos as pose_cv did.
    from faceseg.bench import pose_trees
    from faceseg.steps.pose import train_pose_models

    fold = models / "without-person01/rf"
    full = load_model(fold / "+15.faceseg")
    n = full.params["n_estimators"]
    pose_trees._cut_models(fold, tmp_path / "cut", 2)
    train_pose_models("rf", sorted((tmp_path / "results/features/fasseg-V3/grey-loc/train").glob("shard*.zarr")),
                      {"+15": seen}, tmp_path / "grown", {**full.params, "n_estimators": 2})
    cut, grown = load_model(tmp_path / "cut/+15.faceseg"), load_model(tmp_path / "grown/+15.faceseg")
    rows = np.random.default_rng(0).random((200, len(full.feature_names)))
    assert n > 2 and len(cut.estimator.estimators_) == 2 and cut.params["n_estimators"] == 2
    assert np.array_equal(cut.estimator.predict_proba(rows), grown.estimator.predict_proba(rows))
    assert not np.array_equal(cut.estimator.predict_proba(rows), full.estimator.predict_proba(rows))
    bench = pose_trees.run(tmp_path, two_pose_root, trees=(n, 2), stride=8, experiment="grey-loc", threads=1)
    assert bench[n]["pixel vote"]["accuracy"] == pytest.approx(float(vote["pooled"]["accuracy"]))
    assert bench[n]["pixel vote"]["mae_deg"] == pytest.approx(float(vote["pooled"]["mae_deg"]))
    assert set(bench[2]) == {"seconds_per_photo", "pixel vote"} | {f"pose classifier, {d}" for d in
                                                                   headpose.DESCRIPTORS}
    assert "| pixel vote |" in pose_trees.format_table(bench)


@pytest.mark.parametrize("pose, message", [
    ({"experiments": ["nope"], "models": ["rf"], "stride": 4}, "pose.experiments names unknown experiment 'nope'"),
    ({"experiments": ["icip2015"], "models": ["hgb"], "stride": 4},
     "pose.models: 'hgb' is not a model experiment 'icip2015' trains"),
    ({"experiments": ["icip2015"], "models": ["rf"], "stride": 3}, "pose.stride: 3 does not divide"),
])
def test_pose_configuration_errors_name_the_key(pose, message):
    from faceseg.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=message):
        load_config(overrides={"pose": pose})
