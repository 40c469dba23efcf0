"""Memory and time of one tile of the ICME 2017 patch descriptor (the icme2017 experiment's features).

    python -m faceseg.bench --descriptor-tiles --fasseg ../shared/data/fasseg

Each tile of a real FASSEG image is described as segmentation describes it
(:func:`faceseg.features.compute_features_tile`, with the halo the window
needs), and the peak of the memory NumPy allocates meanwhile is read with
``tracemalloc`` (OpenCV's own scratch buffers are not counted). Peak memory
grows with the tile's pixels over the stride squared, not with the image.
"""

from __future__ import annotations

import time
import tracemalloc


def tile_costs(image, features: dict, tile_sizes=(64, 128, 256), strides=(1, 4)) -> list[dict]:
    """Peak traced MB, seconds and output MB of the centre tile of ``image`` for each tile size and stride."""
    from faceseg.features import compute_features_tile

    h, w = image.shape[:2]
    rows = []
    for tile in tile_sizes:
        for stride in strides:
            r0, c0 = max(0, h // 2 - tile // 2), max(0, w // 2 - tile // 2)
            rect = ((r0, min(h, r0 + tile)), (c0, min(w, c0 + tile)))
            tracemalloc.start()
            start = time.perf_counter()
            out = compute_features_tile(image, features, *rect, stride=stride)
            seconds = time.perf_counter() - start
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            rows.append({"tile": tile, "stride": stride, "pixels": out.shape[0] * out.shape[1],
                         "features": out.shape[2], "output_mb": round(out.nbytes / 1e6, 1),
                         "peak_mb": round(peak / 1e6, 1), "seconds": round(seconds, 3)})
    return rows


def run(fasseg_root, config_path="config.yaml", experiment_name: str = "icme2017") -> dict:
    from faceseg.config import experiment_features, load_config
    from faceseg.features import resolve_config
    from faceseg.io import read_image

    config = load_config(config_path, {"dataset": "fasseg", "fasseg_root": str(fasseg_root)})
    features = resolve_config(experiment_features(config, experiment_name))
    image = read_image(f"{fasseg_root}/V1/Test_RGB/1.png")
    tile_costs(image, features, (32,), (4,))  # first-call set-up, not counted
    return {"experiment": experiment_name, "image_shape": list(image.shape[:2]),
            "tiles": tile_costs(image, features)}


def format_table(results: dict) -> str:
    lines = [f"One tile of {results['experiment']}'s features on a {results['image_shape'][1]}x"
             f"{results['image_shape'][0]} FASSEG image (NumPy allocations, tracemalloc)", "",
             "| tile | stride | pixels described | features | output MB | peak MB | s |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results["tiles"]:
        lines.append(f"| {r['tile']} | {r['stride']} | {r['pixels']} | {r['features']} | {r['output_mb']} | "
                     f"{r['peak_mb']} | {r['seconds']} |")
    return "\n".join(lines)
