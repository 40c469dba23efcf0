"""Head pose from multiclass face segmentation (Khan, Mauro, Migliorati, Leonardi, ICME 2017).

FASSEG V3's images are Pointing'04 photos at pitch 0 in 13 yaw poses, -90 to
+90 degrees in steps of 15. One segmentation model is trained per pose; a
photo is segmented by all of them and its pose read off their probability
maps in one of two ways:

- the paper's **pixel vote** (:func:`vote_counts`): each pixel goes to the pose
  whose model is the most confident there (the highest class probability),
  counting only pixels that model labels eyes, nose or mouth; the pose with
  the most pixels wins;
- a **pose classifier** (:class:`PoseClassifier`, the paper's future work) on
  a descriptor of the probability maps (:func:`descriptor`): the vote counts,
  and class-probability profiles and a coarse grid of the "winner" map (each
  pixel's probabilities under its most confident pose model), in the box of
  the pixels not labelled background. A mirror image has the opposite yaw, so
  every training photo also teaches its mirror, and a photo is classified with
  its mirror averaged in. The descriptor and the forest are chosen by
  leave-one-person-out cross-validation on the training persons.

The landmark-only baseline (:func:`landmark_yaw`) is the head rotation that
OpenCV's ``solvePnP`` finds between six of dlib's 68 landmarks and a generic
3-D face, mapped to degrees of pose by a line fitted on the training photos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: The classes whose pixels vote (ICME 2017: eyes, nose and mouth).
VOTING_CLASSES = ("eyes", "nose", "mouth")

#: Published head-pose results on FASSEG V3 (ICME 2017, Table 2: the test part, persons 8-15).
PUBLISHED_POSE = (
    {"method": "pixel-based (ICME 2017)", "mae_deg": 3.75, "accuracy": 0.774},
    {"method": "superpixel-based (ICME 2017)", "mae_deg": 5.69, "accuracy": 0.673},
)

#: What a pose descriptor can be made of (joined by "+"): the vote counts, the winner map's profiles and
#: grid, the dlib landmark geometry (:func:`landmark_geometry`) and the head box's appearance (:func:`head_appearance`).
DESCRIPTOR_PARTS = ("vote", "maps", "geometry", "appearance")
#: Descriptors the pose classifier chooses from by cross-validation.
DESCRIPTORS = ("vote", "maps", "vote+maps", "vote+maps+geometry", "vote+maps+appearance",
               "vote+maps+geometry+appearance")

#: Columns and rows of the winner map's profiles, and the side of its pooled grid.
PROFILE_BINS = 16
GRID_SIDE = 6


def pose_degrees(pose: str) -> int:
    """``"+15"`` -> 15, ``"-90"`` -> -90, ``"0"`` -> 0."""
    return int(pose)


def sorted_poses(poses) -> list[str]:
    return sorted(set(poses), key=pose_degrees)


def winner_map(grids: np.ndarray) -> np.ndarray:
    """``(poses, h, w, classes)`` probability maps -> ``(h, w, classes)``: each pixel's most confident pose's."""
    grids = np.asarray(grids, np.float32)
    best = grids.max(axis=3).argmax(axis=0)
    return np.take_along_axis(grids, best[None, ..., None], axis=0)[0]


def vote_counts(grids: np.ndarray, class_names, voting=VOTING_CLASSES) -> np.ndarray:
    """Pixels won by each pose (ICME 2017's vote), among those its model labels one of ``voting``."""
    grids = np.asarray(grids, np.float32)
    n_poses = grids.shape[0]
    flat = grids.reshape(n_poses, -1, grids.shape[-1])
    best = flat.max(axis=2).argmax(axis=0)
    labels = flat[best, np.arange(flat.shape[1])].argmax(axis=1)
    keep = np.isin(labels, [list(class_names).index(c) for c in voting])
    return np.bincount(best[keep], minlength=n_poses)


def head_box(prob: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(r0, r1, c0, c1)``, inclusive: the box of a map's non-background pixels (2nd-98th percentiles;
    background is class 0); None when fewer than 4 pixels are not background."""
    rows, cols = np.nonzero(prob[..., 0] < 0.5)
    if len(rows) < 4:
        return None
    r0, r1 = np.percentile(rows, [2, 98]).astype(int)
    c0, c1 = np.percentile(cols, [2, 98]).astype(int)
    return int(r0), int(r1), int(c0), int(c1)


def _head_box(prob: np.ndarray) -> np.ndarray:
    """The map inside its head box (all of it when it has none)."""
    box = head_box(prob)
    if box is None:
        return prob
    r0, r1, c0, c1 = box
    return prob[r0 : r1 + 1, c0 : c1 + 1]


def _resample(values: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Linear resampling of ``values`` to ``size`` samples along ``axis``."""
    n = values.shape[axis]
    at = np.linspace(0, n - 1, size)
    lo = np.floor(at).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    t = (at - lo).reshape([-1 if a == axis else 1 for a in range(values.ndim)])
    return np.take(values, lo, axis) * (1 - t) + np.take(values, hi, axis) * t


def map_descriptor(prob: np.ndarray) -> np.ndarray:
    """Class-probability profiles (by column and by row) and a coarse grid of a map, in its head box."""
    box = _head_box(np.asarray(prob, np.float32))
    columns = _resample(box.mean(axis=0), PROFILE_BINS, 0)
    rows = _resample(box.mean(axis=1), PROFILE_BINS, 0)
    grid = _resample(_resample(box, GRID_SIDE, 0), GRID_SIDE, 1)
    return np.concatenate([columns.ravel(), rows.ravel(), grid.ravel()])


def descriptor_parts(kind: str) -> list[str]:
    parts = kind.split("+")
    if not parts or any(p not in DESCRIPTOR_PARTS for p in parts) or len(set(parts)) != len(parts):
        raise ValueError(f"unknown pose descriptor {kind!r}: parts joined by '+' from {DESCRIPTOR_PARTS}")
    return parts


def descriptor(kind: str, counts: np.ndarray, winner: np.ndarray, mirrored: bool = False,
               geometry: np.ndarray | None = None, appearance: tuple[np.ndarray, np.ndarray] | None = None
               ) -> np.ndarray:
    """The pose classifier's input for one photo; ``mirrored``: that of its mirror image.

    Mirroring flips the map left to right and reverses the vote counts (the
    poses are ordered from -90 to +90, and a mirror negates the yaw); it
    negates the landmark geometry, and takes the appearance of the flipped
    head box (``appearance``: the photo's and its mirror's).
    """
    parts = descriptor_parts(kind)
    counts = np.asarray(counts, np.float64)
    if mirrored:
        counts, winner = counts[::-1], winner[:, ::-1]
    out = []
    if "vote" in parts:
        out.append(counts / max(counts.sum(), 1.0))
    if "maps" in parts:
        out.append(map_descriptor(winner))
    if "geometry" in parts:
        g = np.full(len(GEOMETRY), np.nan) if geometry is None else np.asarray(geometry, np.float64)
        out.append(-g if mirrored else g)
    if "appearance" in parts:
        if appearance is None:
            raise ValueError("the appearance descriptor needs each photo's head-box appearance in the evidence")
        out.append(np.asarray(appearance[1 if mirrored else 0], np.float64))
    return np.concatenate(out)


def _mirror_pose(pose: str, poses: list[str]) -> str:
    """The pose a mirror image has (-15 for +15)."""
    by_degrees = {pose_degrees(p): p for p in poses}
    return by_degrees[-pose_degrees(pose)]


def symmetric(poses) -> bool:
    """Whether every pose's mirror is among ``poses`` (only then do mirror images teach the classifier)."""
    degrees = {pose_degrees(p) for p in poses}
    return all(-d in degrees for d in degrees)


@dataclass
class PoseEvidence:
    """What the per-pose models said of a set of photos, by image id, and what else describes each photo.

    ``maps``: every pose model's class probabilities, ``(poses, h, w, classes)``
    float16, stored once so that every vote and descriptor is read from them
    without classifying again; ``counts`` and ``winners`` are derived from them.
    ``geometry``: :func:`landmark_geometry` (NaN without a face); ``appearance``:
    :func:`head_appearance` of the photo and of its mirror.
    """

    poses: list[str]
    class_names: list[str] = field(default_factory=list)
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    winners: dict[str, np.ndarray] = field(default_factory=dict)
    geometry: dict[str, np.ndarray] = field(default_factory=dict)
    appearance: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def add(self, image_id: str, grids: np.ndarray, class_names, geometry: np.ndarray | None = None,
            appearance: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        if self.class_names and list(class_names) != self.class_names:
            raise ValueError(f"{image_id}: classes {list(class_names)} differ from {self.class_names}")
        self.class_names = list(class_names)
        self.maps[image_id] = np.asarray(grids).astype(np.float16)
        self._derive(image_id)
        if geometry is not None:
            self.geometry[image_id] = np.asarray(geometry, np.float64)
        if appearance is not None:
            self.appearance[image_id] = (np.asarray(appearance[0], np.float32), np.asarray(appearance[1], np.float32))

    def _derive(self, image_id: str) -> None:
        grids = self.maps[image_id].astype(np.float32)
        self.counts[image_id] = vote_counts(grids, self.class_names)
        self.winners[image_id] = winner_map(grids).astype(np.float16)

    def subsampled(self, step: int) -> PoseEvidence:
        """The evidence at ``step`` times the stride: every ``step``-th map pixel of every ``step``-th row."""
        out = PoseEvidence(self.poses, self.class_names, geometry=dict(self.geometry),
                           appearance=dict(self.appearance))
        for image_id, grids in self.maps.items():
            out.maps[image_id] = grids[:, ::step, ::step]
            out._derive(image_id)
        return out

    def descriptors(self) -> list[str]:
        """The candidate descriptors this evidence can feed (appearance only where every photo has it)."""
        have_appearance = bool(self.maps) and all(i in self.appearance for i in self.maps)
        return [k for k in DESCRIPTORS if have_appearance or "appearance" not in k]

    def save(self, path) -> None:
        from faceseg.io import atomic_output

        ids = list(self.maps)
        arrays = {"poses": np.array(self.poses), "class_names": np.array(self.class_names),
                  "image_ids": np.array(ids, dtype=str),
                  "geometry": np.array([self.geometry.get(i, np.full(len(GEOMETRY), np.nan)) for i in ids]
                                       ).reshape(len(ids), len(GEOMETRY))}
        for k, i in enumerate(ids):
            arrays[f"maps_{k}"] = self.maps[i]
            if i in self.appearance:
                arrays[f"appearance_{k}"] = np.stack(self.appearance[i])
        with atomic_output(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, paths) -> PoseEvidence:
        """The evidence of one or more files (photos in file order)."""
        out = None
        for path in paths:
            with np.load(path) as data:
                part = cls([str(p) for p in data["poses"]], [str(c) for c in data["class_names"]])
                for k, image_id in enumerate(str(i) for i in data["image_ids"]):
                    part.maps[image_id] = data[f"maps_{k}"]
                    part._derive(image_id)
                    part.geometry[image_id] = data["geometry"][k]
                    if f"appearance_{k}" in data:
                        part.appearance[image_id] = tuple(data[f"appearance_{k}"])
            if out is None:
                out = part
                continue
            if part.poses != out.poses:
                raise ValueError(f"{path}: poses {part.poses} differ from {out.poses}")
            for name in ("maps", "counts", "winners", "geometry", "appearance"):
                getattr(out, name).update(getattr(part, name))
        if out is None:
            raise ValueError("no pose evidence files given")
        return out

    def vote(self, image_id: str) -> str:
        """The paper's estimate: the pose with the most voting pixels."""
        return self.poses[int(np.argmax(self.counts[image_id]))]

    def features(self, kind: str, image_id: str, mirrored: bool = False) -> np.ndarray:
        return descriptor(kind, self.counts[image_id], self.winners[image_id].astype(np.float32), mirrored,
                          self.geometry.get(image_id), self.appearance.get(image_id))


POSE_CLASSIFIER_FORMAT = "faceseg-pose-classifier"


class PoseClassifier:
    """A random forest on a descriptor of the per-pose models' maps, trained with mirror images."""

    def __init__(self, kind: str, poses: list[str], n_estimators: int = 500, seed: int = 0):
        self.kind, self.poses, self.n_estimators, self.seed = kind, list(poses), n_estimators, seed
        self.mirrors = symmetric(self.poses)
        self.cv: dict = {}
        self.cv_predictions: dict[str, dict[str, str]] = {}

    def fit(self, evidence: PoseEvidence, image_ids, truth: list[str], threads: int = 1) -> PoseClassifier:
        from sklearn.ensemble import RandomForestClassifier

        X = [evidence.features(self.kind, i) for i in image_ids]
        y = list(truth)
        if self.mirrors:
            X += [evidence.features(self.kind, i, mirrored=True) for i in image_ids]
            y += [_mirror_pose(p, self.poses) for p in truth]
        self.forest = RandomForestClassifier(self.n_estimators, random_state=self.seed, n_jobs=threads)
        self.forest.fit(np.array(X), np.array([self.poses.index(p) for p in y]))
        return self

    def probabilities(self, evidence: PoseEvidence, image_ids) -> np.ndarray:
        """``(images, poses)``: the photo's and its mirror's (pose order reversed) class probabilities, averaged."""
        out = np.zeros((len(image_ids), len(self.poses)))
        for mirrored in (False, True) if self.mirrors else (False,):
            X = np.array([evidence.features(self.kind, i, mirrored) for i in image_ids])
            p = np.zeros_like(out)
            p[:, self.forest.classes_] = self.forest.predict_proba(X)
            out += p[:, ::-1] if mirrored else p
        return out / (2 if self.mirrors else 1)

    def predict(self, evidence: PoseEvidence, image_ids) -> list[str]:
        return [self.poses[k] for k in self.probabilities(evidence, image_ids).argmax(axis=1)]

    def save(self, path) -> None:
        """Into a model file (:mod:`faceseg.models.model_file`): the settings and CV as JSON, the forest by skops."""
        from faceseg.models.model_file import save_model_file

        save_model_file(path, {"format": POSE_CLASSIFIER_FORMAT, **self._settings()}, self.forest)

    def _settings(self) -> dict:
        return {"kind": self.kind, "poses": self.poses, "n_estimators": self.n_estimators, "seed": self.seed,
                "cv": self.cv, "cv_predictions": self.cv_predictions}

    @classmethod
    def load(cls, path) -> PoseClassifier:
        """A classifier saved by :meth:`save`; pickles and untrusted types are refused (``InputError``)."""
        from faceseg.io import InputError
        from faceseg.models.model_file import load_model_file

        meta, forest = load_model_file(path)
        if meta.get("format") != POSE_CLASSIFIER_FORMAT or forest is None:
            raise InputError(f"{path}: not a faceseg pose classifier (no '{POSE_CLASSIFIER_FORMAT}' inside)")
        return cls._restore(meta, forest)

    @classmethod
    def _restore(cls, settings: dict, forest) -> PoseClassifier:
        clf = cls(settings["kind"], settings["poses"], settings["n_estimators"], settings["seed"])
        clf.cv, clf.cv_predictions, clf.forest = settings["cv"], settings["cv_predictions"], forest
        return clf


def choose_classifier(evidence: PoseEvidence, image_ids, truth, persons, kinds=None,
                      threads: int = 1) -> PoseClassifier:
    """The descriptor with the best leave-one-person-out accuracy (then MAE), refitted on every photo.

    ``evidence`` must be out-of-fold: each photo's maps come from pose models
    that did not see its person. ``kinds``: the candidates (default: every
    descriptor the evidence can feed). The returned classifier's ``cv`` holds every
    candidate's cross-validated scores, and ``cv_predictions`` its estimate of
    each photo by the classifier that did not see that photo's person.
    """
    kinds = list(kinds or evidence.descriptors())
    image_ids, truth, persons = list(image_ids), list(truth), np.asarray(persons)
    if len(set(persons.tolist())) < 2:
        raise ValueError("choosing a pose classifier needs training photos of at least two persons")
    cv, predictions = {}, {}
    for kind in kinds:
        predicted = [None] * len(image_ids)
        for person in sorted(set(persons.tolist())):
            inside = np.flatnonzero(persons != person)
            clf = PoseClassifier(kind, evidence.poses).fit(
                evidence, [image_ids[k] for k in inside], [truth[k] for k in inside], threads)
            held = np.flatnonzero(persons == person)
            for k, pose in zip(held, clf.predict(evidence, [image_ids[k] for k in held])):
                predicted[k] = pose
        cv[kind] = pose_scores(truth, predicted, evidence.poses)
        predictions[kind] = dict(zip(image_ids, predicted))
    best = max(kinds, key=lambda k: (cv[k]["accuracy"], -cv[k]["mae_deg"]))
    chosen = PoseClassifier(best, evidence.poses).fit(evidence, image_ids, truth, threads)
    chosen.cv = {k: {"accuracy": s["accuracy"], "mae_deg": s["mae_deg"]} for k, s in cv.items()}
    chosen.cv_predictions = predictions
    return chosen


def pose_scores(truth, predicted, poses) -> dict:
    """MAE (degrees), accuracy, per-pose accuracy and the confusion matrix (rows: true pose).

    A photo without an estimate (``None``) counts as 0 degrees, the centre of
    the range, and as wrong unless it is at 0. The matrix's axes are
    ``poses`` plus any other pose found in ``truth`` or ``predicted``.
    """
    truth = [str(t) for t in truth]
    predicted = ["0" if p is None else str(p) for p in predicted]
    poses = sorted_poses(list(poses) + truth + predicted)
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true poses but {len(predicted)} estimates")
    if not truth:
        raise ValueError("no photos to score")
    t = np.array([pose_degrees(p) for p in truth])
    e = np.array([pose_degrees(p) for p in predicted])
    confusion = np.zeros((len(poses), len(poses)), np.int64)
    index = {pose_degrees(p): k for k, p in enumerate(poses)}
    for a, b in zip(t, e):
        confusion[index[a], index[b]] += 1
    per_pose = {p: float(np.mean(e[t == pose_degrees(p)] == pose_degrees(p))) if np.any(t == pose_degrees(p))
                else None for p in poses}
    return {"n_images": len(truth), "mae_deg": float(np.mean(np.abs(t - e))), "accuracy": float(np.mean(t == e)),
            "per_pose_accuracy": per_pose, "confusion": confusion.tolist()}


# ----------------------------------------------------------------- landmark-only baseline

#: A generic 3-D face (millimetres, x right, y up, z towards the camera) at six of dlib's 68 points.
FACE_MODEL_3D = np.array([
    (0.0, 0.0, 0.0),  # nose tip (30)
    (0.0, -330.0, -65.0),  # chin (8)
    (-225.0, 170.0, -135.0),  # outer corner of the eye on the image's left (36)
    (225.0, 170.0, -135.0),  # outer corner of the other eye (45)
    (-150.0, -150.0, -125.0),  # mouth corner on the image's left (48)
    (150.0, -150.0, -125.0),  # the other mouth corner (54)
])
FACE_MODEL_POINTS = (30, 8, 36, 45, 48, 54)


def landmark_yaw(points: np.ndarray, image_shape) -> float:
    """Yaw (degrees) of a face from its 68 landmarks: the rotation about the vertical axis ``solvePnP`` finds.

    The camera is a pinhole with the focal length the image width and the
    principal point its centre; the model's y axis points up, so the image
    points are flipped to match. How this angle maps to a dataset's poses
    (sign, scale) is fitted on training photos (:class:`YawCalibration`).
    """
    import cv2

    h, w = image_shape[:2]
    pts = np.asarray(points, np.float64)[list(FACE_MODEL_POINTS)]
    image_points = np.column_stack([pts[:, 0] - w / 2, h / 2 - pts[:, 1]])
    camera = np.array([[w, 0, 0], [0, w, 0], [0, 0, 1]], np.float64)
    ok, rvec, _ = cv2.solvePnP(FACE_MODEL_3D, image_points, camera, None, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return float("nan")
    rotation, _ = cv2.Rodrigues(rvec)
    # Rotation about the vertical axis: the angle of the model's forward axis in the x-z plane.
    forward = rotation[:, 2]
    return math.degrees(math.atan2(forward[0], forward[2]))


#: The landmark geometry of a photo (:func:`landmark_geometry`); each changes sign in a mirror image.
GEOMETRY = ("solvepnp_yaw_deg", "nose_offset", "eye_width_log_ratio")


def landmark_geometry(points: np.ndarray | None, image_shape) -> np.ndarray:
    """What dlib's 68 points say of the yaw, NaN where no face was found (:data:`GEOMETRY`).

    The solvePnP yaw (:func:`landmark_yaw`); the nose tip's offset from the
    middle of the jaw's two ends, over their distance; the log ratio of the
    widths of the eyes on the image's left and right. A turned head moves the
    nose towards one jaw end and narrows the farther eye.
    """
    if points is None:
        return np.full(len(GEOMETRY), np.nan)
    p = np.asarray(points, np.float64)
    jaw = p[16, 0] - p[0, 0]
    nose = (p[30, 0] - (p[0, 0] + p[16, 0]) / 2) / jaw if abs(jaw) > 1e-6 else np.nan
    left, right = np.hypot(*(p[39] - p[36])), np.hypot(*(p[45] - p[42]))
    ratio = math.log(left / right) if left > 1e-6 and right > 1e-6 else np.nan
    return np.array([landmark_yaw(p, image_shape), nose, ratio])


#: The head box is resized to this side before its HOG (16 px cells, 2 x 2-cell blocks: 324 values).
APPEARANCE_SIDE = 64


def head_appearance(grey: np.ndarray, box: tuple[int, int, int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """HOG of the head box of a grey picture (the whole picture without one), and of its mirror image."""
    import cv2
    from skimage.feature import hog

    if box is not None:
        r0, r1, c0, c1 = box
        grey = grey[r0 : r1 + 1, c0 : c1 + 1]
    patch = cv2.resize(np.asarray(grey, np.float32), (APPEARANCE_SIDE, APPEARANCE_SIDE), interpolation=cv2.INTER_AREA)

    def describe(x):
        return hog(x, orientations=9, pixels_per_cell=(16, 16), cells_per_block=(2, 2), feature_vector=True)

    return describe(patch).astype(np.float32), describe(patch[:, ::-1]).astype(np.float32)


@dataclass
class YawCalibration:
    """A line from solvePnP's yaw to the pose's degrees, fitted on training photos (least squares)."""

    slope: float
    intercept: float

    @classmethod
    def fit(cls, yaws, truth_deg) -> YawCalibration:
        yaws, truth_deg = np.asarray(yaws, float), np.asarray(truth_deg, float)
        ok = np.isfinite(yaws)
        if ok.sum() < 2:
            raise ValueError("calibrating the landmark yaw needs at least two training photos with a face")
        slope, intercept = np.polyfit(yaws[ok], truth_deg[ok], 1)
        return cls(float(slope), float(intercept))

    def pose(self, yaw: float, poses) -> str | None:
        """The nearest pose to the calibrated yaw (None for a photo without a face)."""
        if not np.isfinite(yaw):
            return None
        degrees = self.slope * yaw + self.intercept
        return min(poses, key=lambda p: abs(pose_degrees(p) - degrees))
