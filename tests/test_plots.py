"""Report figures: which images the overlays show, importance by group, and that the figures are written."""

import json

import numpy as np
import pytest
from PIL import Image

from faceseg import plots
from faceseg.datasets import FASSEG, read_labels
from faceseg.io import write_png
from faceseg.metrics import confusion_matrix
from faceseg.steps.figures import (
    plot_confusion,
    plot_feature_importance,
    plot_iou_comparison,
    plot_overlays,
)
from faceseg.steps.scoring import evaluate, rank_images_by_iou


def _confusion_file(path, image_id, truth, pred):
    path.write_text(json.dumps({"image_id": image_id, "model": "rf", "skipped": None,
                                "confusion": confusion_matrix(truth, pred, 6).tolist()}))


@pytest.fixture
def predictions(tmp_path, fasseg_root):
    """Three test images with predictions of known quality (perfect, some errors, many errors) and one skipped."""
    images, confusions = {}, []
    (tmp_path / "labels").mkdir()
    rng = np.random.default_rng(0)
    for image_id, error_rate in (("1", 0.0), ("2", 0.05), ("3", 0.4)):
        label_path = fasseg_root / "V1" / "Test_Labels" / f"{image_id}.png"
        images[image_id] = (str(fasseg_root / "V1" / "Test_RGB" / f"{image_id}.png"), str(label_path))
        truth = read_labels(FASSEG, label_path)
        pred = truth.copy()
        wrong = rng.random(truth.shape) < error_rate
        pred[wrong] = (pred[wrong] + 1) % 6
        write_png(tmp_path / "labels" / f"{image_id}.png", pred)
        _confusion_file(tmp_path / f"{image_id}.json", image_id, truth, pred)
        confusions.append(tmp_path / f"{image_id}.json")
    (tmp_path / "4.json").write_text(json.dumps({"image_id": "4", "model": "rf", "skipped": "no face",
                                                 "confusion": None}))
    confusions.append(tmp_path / "4.json")
    return tmp_path, images, confusions


def predicted(folder):
    return {image_id: folder / "labels" / f"{image_id}.png" for image_id in ("1", "2", "3")}


def test_images_are_ranked_by_mean_iou(predictions):
    _, _, confusions = predictions
    ranked = rank_images_by_iou(confusions, FASSEG.class_names)
    assert [image_id for image_id, _ in ranked] == ["1", "2", "3"]  # the skipped image is left out
    assert ranked[0][1] == 1.0 and ranked[1][1] > ranked[2][1]


def test_overlays_show_the_best_and_the_worst(predictions):
    folder, images, confusions = predictions
    out = folder / "overlays"
    written = plot_overlays(confusions, predicted(folder), images, out, "fasseg", 1, "t")
    assert written == ["best_1_1.png", "worst_1_3.png"]
    assert sorted(p.name for p in out.iterdir()) == written
    picture = Image.open(out / "best_1_1.png")
    assert picture.width > 2 * picture.height  # four portrait panels side by side
    # asking for more than there are: each image once
    written = plot_overlays(confusions, predicted(folder), images, folder / "all", "fasseg", 5, "t")
    assert written == ["best_1_1.png", "best_2_2.png", "best_3_3.png"]


def test_overlay_count_is_validated(predictions):
    folder, images, confusions = predictions
    with pytest.raises(ValueError, match="report.overlays must be a positive integer, got 0"):
        plot_overlays(confusions, predicted(folder), images, folder / "o", "fasseg", 0, "t")
    assert not (folder / "o").exists()


def test_importance_sums_over_feature_groups(tiny_model):
    from faceseg.models import load_model

    totals = plots.importance_by_group(load_model(tiny_model))
    assert list(totals) == ["colour", "location", "hog", "landmarks"]
    assert sum(totals.values()) == pytest.approx(1.0)
    assert all(v >= 0 for v in totals.values())


def test_figures_are_written(tmp_path, tiny_model, predictions):
    folder, _, confusions = predictions
    metrics = evaluate(confusions, tmp_path / "m.json", tmp_path / "m.csv", tmp_path / "m.md", "fasseg",
                             info={"dataset": "fasseg", "experiment": "e", "model": "rf"})
    plot_confusion(tmp_path / "m.json", tmp_path / "confusion.png")
    plot_iou_comparison([tmp_path / "m.json"], tmp_path / "iou.png", "fasseg")
    plot_feature_importance(tiny_model, tmp_path / "importance.png")
    for name in ("confusion.png", "iou.png", "importance.png"):
        with Image.open(tmp_path / name) as picture:
            assert picture.format == "PNG" and min(picture.size) > 200
    assert metrics["n_images"] == 3
