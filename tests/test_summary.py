"""The summary and per-pose tables, from hand-made metrics and confusion files."""

import csv
import json

import numpy as np
import pytest

from faceseg.metrics import ConfusionRecord, scores
from faceseg.summary import PUBLISHED, pose_scores, write_pose_tables, write_summary

CLASSES = ["background", "skin", "hair", "eyes", "nose", "mouth"]


def _metrics(experiment, model, cm, per_pixel_cm=None):
    s = scores(np.asarray(cm), CLASSES)
    m = {**s, "n_images": 2, "skipped": [], "class_names": CLASSES, "dataset": "fasseg", "experiment": experiment,
         "model": model}
    if per_pixel_cm is not None:
        m["per_pixel"] = scores(np.asarray(per_pixel_cm), CLASSES)
    return m


def test_summary_has_every_run_and_the_published_rows(tmp_path):
    good = np.diag([100, 80, 60, 10, 10, 10])
    worse = good.copy()
    worse[3, 1] = 10  # 10 eye pixels called skin
    paths = []
    best = _metrics("best", "mlp", good)
    best["intervals"] = {"level": 0.95, "pixel_accuracy": [0.95, 0.99], "mean_iou": [0.71, 0.9]}
    for name, m in (("a", _metrics("icip2015", "rf", worse, per_pixel_cm=worse + np.eye(6, dtype=int))),
                    ("b", best)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(m))
    rows = write_summary(paths, tmp_path / "summary.md", tmp_path / "summary.csv", "fasseg",
                         {"icip2015": "the 2015 features", "best": ""})
    with open(tmp_path / "summary.csv") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(rows) == 3 + len(PUBLISHED["fasseg"])
    ours = {(r["experiment"], r["model"], r["variant"]): r for r in table if r["source"] == "this run"}
    assert set(ours) == {("icip2015", "rf", "as configured"), ("icip2015", "rf", "per-pixel (no spatial smoothing)"),
                         ("best", "mlp", "as configured")}
    assert float(ours[("best", "mlp", "as configured")]["pixel_accuracy"]) == 1.0
    assert float(ours[("icip2015", "rf", "as configured")]["iou_eyes"]) == pytest.approx(10 / 20)
    published = [r for r in table if r["variant"] == "published"]
    assert any(r["pixel_accuracy"] == "0.93" and "ICIP 2015" in r["source"] for r in published)
    assert any(r["f1_nose"] == "0.71" for r in published)
    assert ours[("best", "mlp", "as configured")]["mean_iou_low"] == "0.71"
    assert ours[("best", "mlp", "as configured")]["pixel_accuracy_high"] == "0.99"
    assert ours[("icip2015", "rf", "per-pixel (no spatial smoothing)")]["mean_iou_low"] == ""
    assert all(r["mean_iou_low"] == "" for r in published)
    md = (tmp_path / "summary.md").read_text()
    assert "| icip2015 | rf | 0.9643 |" in md and "| icip2015 | rf, per-pixel |" in md
    assert "| 0.950-0.990 | 0.710-0.900 |" in md and "95% interval: pixel acc." in md
    assert "- **icip2015**: the 2015 features" in md and "600x600" in md


def test_summary_without_published_rows(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(_metrics("best", "rf", np.eye(6, dtype=int))))
    write_summary([path], tmp_path / "s.md", tmp_path / "s.csv", "fasseg-V2")
    assert "None on file for this dataset." in (tmp_path / "s.md").read_text()


def _confusion_file(path, image_id, cm):
    ConfusionRecord(image_id, "rf", confusion=np.asarray(cm)).write(path)
    return path


def test_pose_scores_sum_each_pose(tmp_path):
    a = np.diag([10, 10, 10, 4, 0, 0])
    b = np.diag([10, 10, 10, 0, 0, 0])
    b[3, 1] = 4  # every eye pixel of this image called skin
    files = [_confusion_file(tmp_path / "1.json", "0/personne06146+0+0", a),
             _confusion_file(tmp_path / "2.json", "0/personne07146+0+0", b),
             _confusion_file(tmp_path / "3.json", "-15/personne06145+0-15", a)]
    ConfusionRecord("+90/x", "rf").write(tmp_path / "4.json")
    by_pose = pose_scores(files + [tmp_path / "4.json"], CLASSES)
    assert list(by_pose) == ["-15", "0"], "poses in numeric order; unscored images left out"
    assert by_pose["0"]["n_images"] == 2 and by_pose["0"]["per_class"]["eyes"]["recall"] == 0.5
    assert by_pose["-15"]["per_class"]["eyes"]["recall"] == 1.0
    write_pose_tables({"best / rf": files}, tmp_path / "p.md", tmp_path / "p.csv", "fasseg-V3", CLASSES)
    with open(tmp_path / "p.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [r["pose"] for r in table] == ["-15", "0", "0"]
    assert float(table[1]["recall_eyes"]) == 0.5 and table[2]["recall_eyes"] == "0.5874"  # published anchor
    assert "ICME 2017" in (tmp_path / "p.md").read_text()


def test_a_summary_says_when_its_rows_were_made_by_different_code(tmp_path):
    from faceseg.provenance import record

    now = record()
    before = {**now, "package": "0123456789abcdef", "libraries": {**now["libraries"], "scikit-learn": "1.8.0"}}
    cm = np.diag([100, 80, 60, 10, 10, 10])
    paths = []
    for experiment, provenance in (("a", now), ("b", before), ("c", now)):
        m = {**_metrics(experiment, "rf", cm), "provenance": provenance}
        paths.append(tmp_path / f"{experiment}.json")
        paths[-1].write_text(json.dumps(m))
    write_summary(paths, tmp_path / "summary.md", tmp_path / "summary.csv", "fasseg")
    text = (tmp_path / "summary.md").read_text()
    assert "**Made by 2 versions of the code**" in text
    code = text.split("## Code")[1]
    assert f"code {now['package']}" in code and "a / rf, c / rf" in code
    older = [line for line in code.splitlines() if "code 0123456789abcdef" in line]
    assert len(older) == 1 and "scikit-learn 1.8.0," in older[0] and older[0].endswith(": b / rf")
    with open(tmp_path / "summary.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["source"] == "this run"]
    assert [r["code"] for r in rows] == [now["package"], "0123456789abcdef", now["package"]]
    # One version: said once, no warning.
    write_summary([paths[0], paths[2]], tmp_path / "one.md", tmp_path / "one.csv", "fasseg")
    one = (tmp_path / "one.md").read_text()
    assert "versions of the code" not in one and f"Every row was made by faceseg {now['faceseg']}" in one


def test_the_lapa_table_uses_the_papers_metric(tmp_path):
    """F1 per class from one confusion matrix summed over the test images, mean over the 10 face classes,
    checked against figures worked out by hand, beside the published rows with each row's protocol."""
    from faceseg.datasets import LAPA
    from faceseg.steps.scoring import evaluate

    bg, skin, lbrow, rbrow, leye, reye, nose, ulip, mouth, llip, hair = range(11)
    first, second = np.zeros((11, 11), int), np.zeros((11, 11), int)
    first[bg, bg], first[skin, skin], first[skin, hair], first[hair, hair] = 100, 50, 10, 40
    for c, n in ((bg, 80), (lbrow, 6), (rbrow, 5), (leye, 4), (reye, 4), (nose, 9), (ulip, 3), (mouth, 2),
                 (llip, 3), (hair, 10)):
        second[c, c] = n
    second[bg, skin], second[lbrow, rbrow], second[mouth, ulip] = 20, 2, 1
    paths = []
    for image_id, cm in (("a", first), ("b", second)):
        paths.append(tmp_path / f"{image_id}.json")
        ConfusionRecord(image_id, "rf", confusion=cm).write(paths[-1])
    metrics = evaluate(paths, tmp_path / "metrics.json", tmp_path / "per_class.csv", tmp_path / "report.md", "lapa",
                       info={"dataset": "lapa", "experiment": "landmarks", "model": "rf"})
    # By hand, F1 = 2TP / (2TP + FP + FN) on the summed matrix: skin 100/130 (10 FN to hair, 20 FP from the
    # background), left brow 12/14, right brow 10/12, eyes and nose 1, upper lip 6/7, inner mouth 4/5,
    # lower lip 1, hair 100/110; their mean 9.025941 / 10.
    f1 = {c: metrics["per_class"][c]["f1"] for c in LAPA.class_names}
    assert f1["skin"] == pytest.approx(100 / 130) and f1["hair"] == pytest.approx(100 / 110)
    assert f1["inner_mouth"] == pytest.approx(0.8) and f1["left_eyebrow"] == pytest.approx(12 / 14)
    assert metrics["mean_f1_foreground"] == pytest.approx(0.9025941, abs=1e-6)
    write_summary([tmp_path / "metrics.json"], tmp_path / "summary.md", tmp_path / "summary.csv", "lapa",
                  protocols={"landmarks": "image only (landmarks detected by dlib)"})
    table = (tmp_path / "summary.md").read_text().split("## LaPa table")[1].split("\n## ")[0]
    ours = next(line for line in table.splitlines() if "(this run)" in line)
    assert "| image only (landmarks detected by dlib) | 76.92 | 85.71 | 83.33 | 100.00 |" in ours
    assert ours.endswith("| 90.91 | 90.26 |")
    for p in PUBLISHED["lapa"]:
        assert f"{p.method} ({p.citation})" in table
    assert "| 97.24 | 87.67 | 87.55 | 88.06 | 87.91 | 95.47 | 84.36 | 87.64 | 85.70 | 96.31 | 89.79 |" in table
    with open(tmp_path / "summary.csv") as fh:
        rows = {r["experiment"]: r for r in csv.DictReader(fh)}
    assert float(rows["landmarks"]["mean_f1_foreground"]) == pytest.approx(0.9025941, abs=1e-6)
    assert rows["BASS"]["mean_f1_foreground"] == "0.8979" and rows["BASS"]["mean_f1"] == ""
