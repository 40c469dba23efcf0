"""Command line: segment new photos with a trained model, and say what a model is.

    faceseg segment PHOTO... --model MODEL [-o DIR] [--landmarks FILE...] [--jobs N] [--all-faces]
    faceseg robustness MODEL --fasseg-root DIR [--images N]
    faceseg info MODEL [--all-features] [--json]
    faceseg convert --trust-pickle OLD_MODEL [-o MODEL]
    faceseg compare RUN_A RUN_B [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from faceseg.data_digest import describe as describe_data
from faceseg.io import InputError, NoFaceError
from faceseg.models import FeatureMismatchError, model_kind
from faceseg.paths import metrics_of_model
from faceseg.provenance import describe


def _segment(args) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from faceseg.landmarks import LandmarkDetector
    from faceseg.models import load_model
    from faceseg.photo import PhotoSegmenter

    if args.landmarks and len(args.landmarks) != len(args.photos):
        raise InputError(f"--landmarks: {len(args.landmarks)} files given for {len(args.photos)} photos; "
                         "give one per photo, in the same order")
    if args.landmarks and args.all_faces:
        raise InputError("--all-faces finds the faces with dlib; a landmark file gives one face")
    segmenter = PhotoSegmenter(load_model(args.model), LandmarkDetector(upsample=args.upsample,
                                                                         cnn_fallback=not args.no_cnn),
                               stride=args.stride, tile_size=args.tile_size, threads=args.threads,
                               normalise=not args.no_normalise, all_faces=args.all_faces)

    def one(i):
        try:
            return segmenter.segment(args.photos[i], args.output, args.landmarks[i] if args.landmarks else None)
        except (InputError, NoFaceError, FeatureMismatchError) as exc:
            return exc

    failures = 0
    # Photos in parallel threads (features, prediction and PNG encoding release the GIL),
    # sharing the one model and detector.
    with ThreadPoolExecutor(args.jobs) as pool:
        for photo, result in zip(args.photos, pool.map(one, range(len(args.photos)))):
            if isinstance(result, Exception):
                # One bad photo does not stop the others; the exit status says something failed.
                print(f"faceseg segment: {result}", file=sys.stderr)
                failures += 1
                continue
            print(f"{photo}: {result['labels']}, {result['overlay']}{_faces_note(result)}")
    return 1 if failures else 0


def _faces_note(result) -> str:
    found, done = result["faces_found"], result["faces_segmented"]
    note = "" if found is None else f"; {found} face{'s' if found != 1 else ''} found"
    if found and found > done:
        note += ", segmented the largest"
    for i, face in enumerate(result["faces"]):
        if face["resampled"]:
            note += (f"; face {i + 1} resampled (eye line at {face['tilt_deg']:+.1f} deg clockwise levelled, "
                     f"scaled x{face['zoom']:.2f})")
    if result["pixels_beyond_context"]:
        note += f"; {result['pixels_beyond_context']} pixels far from every face labelled background"
    return note


def _robustness(args) -> int:
    from faceseg import robustness

    results = robustness.run(args.model, args.fasseg_root, args.images, args.modes, args.jobs, args.stride,
                             not args.no_v3, version=args.version)
    print(robustness.format_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


def model_summary(model, metrics_path=None) -> dict:
    groups = Counter(model.feature_groups())
    summary = {
        "file": model.source,
        "kind": model.kind,
        "estimator": model_kind(model.kind).description,
        "dataset": model.info.get("dataset"),
        "experiment": model.info.get("experiment"),
        "classes": model.class_names,
        "n_features": len(model.feature_names),
        "features_per_group": dict(groups),
        "feature_config": model.feature_config,
        "landmarks_per_image": model.n_landmarks,
        # The training images whose labels the label_atlas features carry (None: no such features).
        "label_atlas_images": None if model.label_atlas is None else list(model.label_atlas.ids),
        "params": model.params,
        "training_images": len(model.info.get("training_images", [])),
        "skipped_training_images": model.info.get("skipped_training_images", []),
        "training_samples": model.info.get("n_train_samples"),
        "sampling": model.info.get("sampling"),
        "train_seconds": model.info.get("train_seconds"),
        # The code and library versions that trained it (faceseg.provenance.record).
        "provenance": model.info.get("provenance"),
        # The pixel digest of the training split it was trained on (faceseg.data_digest).
        "data": model.info.get("data"),
        "feature_names": model.feature_names,
        "metrics": None,
    }
    if metrics_path is not None and Path(metrics_path).is_file():
        m = json.loads(Path(metrics_path).read_text())
        summary["metrics"] = {"file": str(metrics_path), "n_images": m["n_images"],
                              **{k: m[k] for k in ("pixel_accuracy", "mean_iou", "mean_f1")},
                              "iou": {c: v["iou"] for c, v in m["per_class"].items()},
                              "provenance": m.get("provenance"), "data": m.get("data")}
    return summary


def _info(args) -> int:
    from faceseg.models.classifier import read_model_metadata

    # model.json and the arrays: what a model is, read without building its estimator.
    model = read_model_metadata(args.model)
    summary = model_summary(model, args.metrics or metrics_of_model(args.model))
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    names = summary.pop("feature_names")
    groups = ", ".join(f"{g} {n}" for g, n in summary["features_per_group"].items())
    lines = [
        f"model        {summary['file']}",
        f"kind         {summary['kind']} ({summary['estimator']})",
        f"trained on   {summary['dataset']}, experiment {summary['experiment']}: "
        f"{summary['training_images']} images, {summary['training_samples']} sampled pixels "
        f"({len(summary['skipped_training_images'])} images skipped), {summary['train_seconds']} s",
        f"classes      {', '.join(summary['classes'])}",
        f"features     {summary['n_features']}: {groups}"
        + (f"; {summary['landmarks_per_image']} landmarks per image" if summary["landmarks_per_image"] else ""),
        f"parameters   {json.dumps(summary['params'])}",
        f"made by      {describe(summary['provenance'])}"
        + (f"; training stage {summary['provenance']['stage_code']}" if summary["provenance"] else ""),
        f"data         {describe_data(summary['data'])}",
    ]
    if summary["label_atlas_images"]:
        lines.insert(-3, f"label atlas  {len(summary['label_atlas_images'])} training images: "
                         f"{', '.join(summary['label_atlas_images'])}")
    if args.all_features:
        lines.append("feature names:")
        lines += [f"  {i:4d} {n}" for i, n in enumerate(names)]
    else:
        lines.append(f"feature names {', '.join(names[:4])}, ..., {', '.join(names[-2:])} (--all-features lists all)")
    m = summary["metrics"]
    if m:
        lines.append(f"metrics      {m['file']} ({m['n_images']} images): pixel accuracy {m['pixel_accuracy']:.4f}, "
                     f"mean IoU {m['mean_iou']:.4f}, mean F1 {m['mean_f1']:.4f}")
        lines.append("  IoU        " + ", ".join(f"{c} {v:.3f}" if v is not None else f"{c} -"
                                                for c, v in m["iou"].items()))
        lines.append(f"  made by    {describe(m['provenance'])}")
        lines.append(f"  scored on  {describe_data(m['data'])}")
    else:
        lines.append("metrics      none found (run the workflow's evaluate rule, or pass --metrics FILE)")
    print("\n".join(lines))
    return 0


def _convert(args) -> int:
    from faceseg.models.classifier import FORMAT, save_unpickled_checkpoint
    from faceseg.models.model_file import unpickle_trusted
    from faceseg.paths import MODEL_SUFFIX
    from faceseg.pose import PoseClassifier

    source = Path(args.pickle)
    if not args.trust_pickle:
        raise InputError(f"{source}: converting a pickle means unpickling it, which runs whatever code it holds; "
                         "add --trust-pickle if you made this file or trust whoever did")
    if not source.is_file():
        raise InputError(f"{source}: file not found")
    out = Path(args.output) if args.output else source.with_suffix(MODEL_SUFFIX)
    if out.resolve() == source.resolve():
        raise InputError(f"{out}: the output would overwrite the pickle; give -o")
    obj = unpickle_trusted(source)
    if isinstance(obj, PoseClassifier):
        obj.save(out)
        print(f"{source} -> {out} (pose classifier, descriptor {obj.kind})")
    elif isinstance(obj, dict) and obj.get("format") == FORMAT:
        model = save_unpickled_checkpoint(obj, source, out)
        print(f"{source} -> {out} ({model.kind} model, {len(model.feature_names)} features)")
    else:
        raise InputError(f"{source}: unpickled, but it holds {type(obj).__name__}, not a faceseg model")
    return 0


def _compare(args) -> int:
    from faceseg import compare

    rows = compare.compare(args.run_a, args.run_b)
    print(compare.format_report(rows, args.run_a, args.run_b))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=list) + "\n")
    return 0


def _params(args) -> int:
    from faceseg.models import MODEL_KINDS

    unknown = [name for name in args.kinds if name not in MODEL_KINDS]
    if unknown:
        raise InputError(f"unknown model kind(s) {unknown}; the kinds are {list(MODEL_KINDS)}")
    for name in args.kinds or list(MODEL_KINDS):
        kind = MODEL_KINDS[name]
        print(f"{name}: {kind.description} (trained unless configured otherwise: {str(kind.enabled).lower()})")
        for title, table in (("fit", kind.fit_params), ("decision", kind.decision_params)):
            for param, spec in table.items():
                print(f"  {param:18s} {json.dumps(spec.default):12s} {title:8s}  {spec.doc}")
        print()
    return 0


def _pose_cv(args) -> int:
    from faceseg.steps.pose import pose_cv_estimates, write_pose_cv_report

    runs = {}
    for folder in map(Path, args.evidence):
        files = sorted(folder.glob("person*.npz"))
        if not files:
            raise InputError(f"{folder}: no training persons' pose evidence (person*.npz)")
        # .../<experiment>/<model>/train
        runs[f"{folder.parent.parent.name} / {folder.parent.name}"] = (files, None)
    estimates, notes = pose_cv_estimates(runs, step=args.step, threads=args.threads)
    write_pose_cv_report(estimates, notes, f"{args.output}.md", f"{args.output}.csv", dataset_tag="fasseg-V3",
                         stride=args.stride * args.step)
    print(Path(f"{args.output}.md").read_text())
    return 0


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceseg", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    seg = sub.add_parser("segment", help="segment photos with a trained model")
    seg.add_argument("photos", nargs="+", metavar="PHOTO", help="image files (any size; .png, .jpg, .bmp, ...)")
    seg.add_argument("--model", "-m", required=True, help="a model written by the workflow (results/models/...)")
    seg.add_argument("--output", "-o", default="faceseg_out", help="folder for the label and overlay PNGs")
    seg.add_argument("--landmarks", nargs="+", metavar="FILE",
                     help="landmark files (LaPa format), one per photo; default: detect with dlib")
    seg.add_argument("--stride", type=int, choices=range(1, 9), default=None,
                     help="classify every STRIDE-th pixel of every STRIDE-th row and interpolate (default: the "
                          "stride the workflow segmented with, recorded beside the model; 1 without a record)")
    seg.add_argument("--jobs", "-j", type=_int_at_least(1), default=1, help="photos segmented in parallel")
    seg.add_argument("--all-faces", action="store_true",
                     help="segment every face dlib finds (each pixel in the frame of its nearest face), "
                          "not only the largest")
    seg.add_argument("--tile-size", type=_int_at_least(16), default=256,
                     help="tile side for the features, >= 16 (bounds memory)")
    seg.add_argument("--threads", type=_int_at_least(1), default=1, help="threads per photo (tiles in parallel)")
    seg.add_argument("--upsample", type=int, choices=range(4), default=1,
                     help="dlib: upsample the photo this often to find small faces")
    seg.add_argument("--no-cnn", action="store_true", help="dlib: do not fall back to the CNN face detector")
    seg.add_argument("--no-normalise", action="store_true",
                     help="segment the photo as it is (location relative to the photo), instead of mapping each "
                          "face onto the training images' framing (eye line level, training face scale)")
    seg.set_defaults(run=_segment)

    rob = sub.add_parser("robustness", help="per-class IoU of a FASSEG model under controlled changes of its test "
                                            "photos, and on FASSEG V3's near-frontal poses")
    rob.add_argument("model", help="a FASSEG model written by the workflow (results/models/fasseg/...)")
    rob.add_argument("--fasseg-root", required=True, help="folder holding V1/, V2/, V3/")
    rob.add_argument("--version", choices=("V1", "V2"), default="V1",
                     help="the FASSEG version whose test split is changed (the one the model was trained on)")
    rob.add_argument("--images", type=_int_at_least(1), default=None, help="only the first N test images")
    rob.add_argument("--modes", nargs="+", choices=("normalised", "as is"), default=["normalised", "as is"],
                     help="faceseg segment as it runs by default, and with --no-normalise")
    rob.add_argument("--jobs", "-j", type=_int_at_least(1), default=1, help="photos segmented in parallel")
    rob.add_argument("--stride", type=int, choices=range(1, 9), default=None, help="default: the model's")
    rob.add_argument("--no-v3", action="store_true", help="leave out FASSEG V3's poses")
    rob.add_argument("--json", help="also write the figures as JSON here")
    rob.set_defaults(run=_robustness)

    cv = sub.add_parser("pose-cv", help="FASSEG V3: the head-pose cross-validation by person, from a run's stored "
                                        "pose evidence, at its stride or coarser")
    cv.add_argument("evidence", nargs="+", metavar="DIR",
                    help="folders of the training persons' evidence (results/pose/fasseg-V3/<experiment>/<model>/"
                         "train), one per run")
    cv.add_argument("--step", type=_int_at_least(1), default=1,
                    help="read the maps at STEP times the stride they were stored at (their run's pose.stride)")
    cv.add_argument("--stride", type=_int_at_least(1), required=True, help="the stride the maps were stored at")
    cv.add_argument("--output", "-o", default="pose_cv", help="writes OUTPUT.md and OUTPUT.csv")
    cv.add_argument("--threads", type=_int_at_least(1), default=1)
    cv.set_defaults(run=_pose_cv)

    info = sub.add_parser("info", help="what a model was trained on")
    info.add_argument("model")
    info.add_argument("--metrics", help="metrics.json to show (default: the workflow's report beside the model)")
    info.add_argument("--all-features", action="store_true", help="list every feature name")
    info.add_argument("--json", action="store_true", help="print everything as JSON")
    info.set_defaults(run=_info)

    conv = sub.add_parser("convert", help="rewrite a pickled model of an earlier faceseg (.joblib) as a model file "
                                          "that opens without running code")
    conv.add_argument("pickle", metavar="OLD_MODEL")
    conv.add_argument("--trust-pickle", action="store_true",
                      help="required: unpickling runs whatever code the file holds, so only for files you made or "
                           "trust")
    conv.add_argument("--output", "-o", help="default: OLD_MODEL with the suffix .faceseg")
    conv.set_defaults(run=_convert)

    cmp = sub.add_parser("compare", help="two runs' results side by side: paired differences on the images both "
                                         "scored, and what differs (code, settings, data, skipped images)")
    cmp.add_argument("run_a", metavar="RUN_A", help="a run folder, its results/, results/reports/<dataset>/ or a "
                                                    "summary.md")
    cmp.add_argument("run_b", metavar="RUN_B")
    cmp.add_argument("--json", help="also write the comparison as JSON here")
    cmp.set_defaults(run=_compare)

    from faceseg.models import MODEL_NAMES

    params = sub.add_parser("params", help="every model parameter, its default and what it does")
    params.add_argument("kinds", nargs="*", metavar="KIND",
                        help=f"model kinds to list ({', '.join(MODEL_NAMES)}; default: all)")
    params.set_defaults(run=_params)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    # Bad input (a file, a model that does not fit the photo): a message, exit 2. Any other
    # exception is a bug and keeps its traceback.
    except (InputError, FeatureMismatchError) as exc:
        print(f"faceseg {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
