"""Training a model on a merged store (rule train_model)."""

from __future__ import annotations

import logging

from faceseg import models
from faceseg.data_digest import split_record
from faceseg.framing import face_framing
from faceseg.models import model_kind
from faceseg.provenance import record as provenance_record
from faceseg.steps.extraction import atlas_for
from faceseg.store import TrainingStoreAttrs, open_store

log = logging.getLogger(__name__)


def train_model(kind: str, store, out_model, params: dict, threads: int = 1, info: dict | None = None,
                atlas_path=None, provenance: dict | None = None, data_digests=()) -> None:
    """Train a model of ``kind`` (a name of :data:`~faceseg.models.MODEL_KINDS`) on a merged store and save it.

    ``atlas_path``: the label atlas the training features were computed with
    (features with ``label_atlas``); it is saved inside the model, which
    describes new images with it. ``provenance``: the rule's code fingerprint
    (:func:`faceseg.provenance.stage_provenance`), kept in ``info`` with the
    versions that made the model. ``data_digests``: the training split's shard
    digest files (:mod:`faceseg.data_digest`); the model records their digest.
    """
    model_kind(kind)  # an unknown kind fails before the store is read
    group = open_store(store)
    attrs = TrainingStoreAttrs.of(group)
    info = {
        **(info or {}),
        "train_store": str(store),
        "sampling": attrs.sampling,
        "config_digest": attrs.config_digest,
        "training_images": attrs.image_ids,
        "skipped_training_images": attrs.skipped,
        "face_framing": face_framing(attrs.face_frames),
        # How the training images were framed: evaluation images are framed alike.
        "framing": attrs.framing,
        # The training images' class shares: the decisions' prior correction is computed from them.
        **attrs.class_counts,
        "provenance": provenance_record(provenance),
        "data": split_record(list(data_digests)),
    }
    atlas = atlas_for(attrs.feature_config, atlas_path)  # before training: fail fast
    model = models.train(kind, group, params, threads=threads, info=info)
    model.label_atlas = atlas
    model.save(out_model)
    log.info("saved %s model to %s", kind, out_model)
