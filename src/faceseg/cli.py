"""Command line: segment new photos with a trained model, and say what a model is.

    faceseg segment PHOTO... --model MODEL [-o DIR] [--landmarks FILE...]
    faceseg info MODEL [--all-features] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from faceseg.io import InputError, NoFaceError
from faceseg.models import FeatureMismatchError, model_kind
from faceseg.paths import metrics_of_model


def _segment(args) -> int:
    from faceseg.landmarks import LandmarkDetector
    from faceseg.models import load_model
    from faceseg.photo import segment_photo

    model = load_model(args.model)
    if args.landmarks and len(args.landmarks) != len(args.photos):
        raise InputError(f"--landmarks: {len(args.landmarks)} files given for {len(args.photos)} photos; "
                         "give one per photo, in the same order")
    detector = LandmarkDetector(upsample=args.upsample, cnn_fallback=not args.no_cnn)
    failures = 0
    for i, photo in enumerate(args.photos):
        landmark_path = args.landmarks[i] if args.landmarks else None
        try:
            result = segment_photo(model, photo, args.output, landmark_path, detector, args.tile_size, args.threads,
                                   reframe=not args.no_reframe)
        except (InputError, NoFaceError, FeatureMismatchError) as exc:
            # One bad photo does not stop the others; the exit status says something failed.
            print(f"faceseg segment: {exc}", file=sys.stderr)
            failures += 1
            continue
        faces = result["faces_found"]
        found = "" if faces is None else (
            f"; {faces} faces found, segmented the largest" if faces > 1 else "; 1 face found")
        reframed = result["reframed"]
        if reframed:
            found += f"; reframed (crop {reframed['box']}, zoom {reframed['zoom']})"
        print(f"{photo}: {result['labels']}, {result['overlay']}{found}")
    return 1 if failures else 0


def model_summary(model, metrics_path=None) -> dict:
    groups = Counter(model.feature_groups())
    summary = {
        "file": model.source,
        "kind": model.kind,
        "estimator": model_kind(model.kind).description if isinstance(model.estimator, dict)
        else type(model.estimator).__name__,
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
        "feature_names": model.feature_names,
        "metrics": None,
    }
    if metrics_path is not None and Path(metrics_path).is_file():
        m = json.loads(Path(metrics_path).read_text())
        summary["metrics"] = {"file": str(metrics_path), "n_images": m["n_images"],
                              **{k: m[k] for k in ("pixel_accuracy", "mean_iou", "mean_f1")},
                              "iou": {c: v["iou"] for c, v in m["per_class"].items()}}
    return summary


def _info(args) -> int:
    from faceseg.models import load_model

    model = load_model(args.model)
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
    ]
    if summary["label_atlas_images"]:
        lines.insert(-1, f"label atlas  {len(summary['label_atlas_images'])} training images: "
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
    else:
        lines.append("metrics      none found (run the workflow's evaluate rule, or pass --metrics FILE)")
    print("\n".join(lines))
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
    seg.add_argument("--tile-size", type=_int_at_least(16), default=256,
                     help="tile side for the features, >= 16 (bounds memory)")
    seg.add_argument("--threads", type=_int_at_least(1), default=1)
    seg.add_argument("--upsample", type=int, choices=range(4), default=1,
                     help="dlib: upsample the photo this often to find small faces")
    seg.add_argument("--no-cnn", action="store_true", help="dlib: do not fall back to the CNN face detector")
    seg.add_argument("--no-reframe", action="store_true",
                     help="segment the photo as it is, instead of cropping and resizing it so that the face sits "
                          "as in the model's training images")
    seg.set_defaults(run=_segment)

    info = sub.add_parser("info", help="what a model was trained on")
    info.add_argument("model")
    info.add_argument("--metrics", help="metrics.json to show (default: the workflow's report beside the model)")
    info.add_argument("--all-features", action="store_true", help="list every feature name")
    info.add_argument("--json", action="store_true", help="print everything as JSON")
    info.set_defaults(run=_info)

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
