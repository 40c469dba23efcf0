"""Readings of the workflow configuration shared by the Snakemake rules and the tools."""

from __future__ import annotations

from faceseg.datasets import get_dataset, list_images

#: Where download_fasseg puts the repository when no fasseg_root is configured.
DOWNLOADED_FASSEG = "resources/fasseg"
#: Points per landmark file when landmarks are detected (dlib's 68-point model).
DETECTED_LANDMARKS = 68


def dataset_root(config: dict) -> str:
    if config["dataset"] == "lapa":
        return config["lapa_root"]
    return config.get("fasseg_root") or DOWNLOADED_FASSEG


def landmark_source(config: dict) -> str:
    """``annotated`` or ``detected``, for the configured dataset."""
    return config["landmarks"][config["dataset"]]


def n_landmarks(config: dict) -> int | None:
    """Points per landmark file: 68 when detected by dlib, else the dataset's annotation."""
    if landmark_source(config) == "detected":
        return DETECTED_LANDMARKS
    return get_dataset(config["dataset"]).n_landmarks


def split_records(config: dict, split: str):
    """The images of a split, capped by ``max_images``."""
    records = list_images(config["dataset"], dataset_root(config), split, config["fasseg_version"])
    cap = config["max_images"].get(split)
    return records[:cap] if cap else records
