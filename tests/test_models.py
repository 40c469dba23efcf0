from functools import partial
from pathlib import Path

import numpy as np
import pytest

from faceseg.io import InputError
from faceseg.models import MODEL_KINDS, FeatureMismatchError, load_model, train
from faceseg.store import open_store, write_sample_store

train_random_forest, train_gradient_boosting, train_mlp = (partial(train, kind) for kind in ("rf", "hgb", "mlp"))

NAMES = ["f0", "f1", "f2", "f3"]


@pytest.fixture
def store(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.uint8) + (X[:, 1] > 1).astype(np.uint8)  # 3 separable classes
    attrs = {"feature_names": NAMES, "class_names": ["bg", "a", "b"], "feature_config": {"location": {}},
             "config_digest": "x", "image_id": "m", "skipped": None}
    write_sample_store(tmp_path / "s.zarr", X, y, np.zeros((3000, 2)), attrs, chunk_rows=512)
    return open_store(tmp_path / "s.zarr"), X, y


@pytest.mark.parametrize("train, params", [
    (train_random_forest, {"n_estimators": 20, "seed": 0}),
    (train_gradient_boosting, {"max_iter": 30, "seed": 0}),
    (train_mlp, {"hidden": [32], "epochs": 10, "batch_size": 64, "lr": 0.01, "seed": 0, "device": "cpu"}),
])
def test_models_learn_save_and_reload(tmp_path, store, train, params):
    group, X, y = store
    model = train(group, params, threads=1, info={"dataset": "fasseg"})
    acc = (model.predict(X, NAMES) == y).mean()
    assert acc > 0.95
    model.save(tmp_path / "m.faceseg")
    again = load_model(tmp_path / "m.faceseg")
    assert again.feature_names == NAMES and again.class_names == ["bg", "a", "b"]
    assert again.feature_config == {"location": {}} and again.info["dataset"] == "fasseg"
    np.testing.assert_allclose(again.predict_proba(X[:100], NAMES), model.predict_proba(X[:100], NAMES), atol=1e-6)


def test_training_is_deterministic(store):
    group, X, _ = store
    params = {"hidden": [16], "epochs": 2, "seed": 3, "device": "cpu"}
    a, b = train_mlp(group, params), train_mlp(group, params)
    for k in a.estimator["state_dict"]:
        np.testing.assert_array_equal(a.estimator["state_dict"][k], b.estimator["state_dict"][k])
    ra = train_random_forest(group, {"n_estimators": 5, "seed": 1})
    rb = train_random_forest(group, {"n_estimators": 5, "seed": 1})
    np.testing.assert_array_equal(ra.predict_proba(X), rb.predict_proba(X))


def test_forest_trees_on_a_bootstrap_fraction(store):
    group = store[0]
    half = train_random_forest(group, {"n_estimators": 3, "max_samples": 0.5, "seed": 1})
    full = train_random_forest(group, {"n_estimators": 3, "max_samples": None, "seed": 1})
    assert half.estimator.max_samples == 0.5 and full.estimator.max_samples is None
    # Each tree's root holds the rows drawn for it (with repeats): half of the 3000, or all.
    assert [t.tree_.weighted_n_node_samples[0] for t in half.estimator.estimators_] == [1500] * 3
    assert [t.tree_.weighted_n_node_samples[0] for t in full.estimator.estimators_] == [3000] * 3


def test_mlp_numpy_forward_equals_the_torch_module(store):
    """Segmentation runs the MLP in NumPy (no PyTorch import); it must compute what the trained module does."""
    import torch

    from faceseg.models.mlp import build_mlp

    group, X, _ = store
    model = train_mlp(group, {"hidden": [16, 8], "dropout": 0.2, "epochs": 2, "seed": 0, "device": "cpu"})
    arch = model.estimator["arch"]
    module = build_mlp(arch["n_in"], arch["hidden"], arch["n_out"], arch["dropout"])
    module.load_state_dict({k: torch.from_numpy(v) for k, v in model.estimator["state_dict"].items()})
    module.eval()
    with torch.inference_mode():
        x = (torch.from_numpy(X) - torch.from_numpy(model.estimator["mean"])) / torch.from_numpy(model.estimator["std"])
        expected = torch.softmax(module(x), dim=1).numpy()
    np.testing.assert_allclose(model.predict_proba(X, NAMES, apply_prior=False), expected, atol=2e-6)


def test_refuses_mismatched_features(store):
    group, X, _ = store
    model = train_random_forest(group, {"n_estimators": 2})
    with pytest.raises(FeatureMismatchError, match=r"feature 2 is 'g2', the model expects 'f2'"):
        model.predict(X, ["f0", "f1", "g2", "f3"])
    with pytest.raises(FeatureMismatchError, match=r"3 features given, the model was trained on 4.*missing \['f3'\]"):
        model.check_features(["f0", "f1", "f2"])
    with pytest.raises(FeatureMismatchError, match="expects 4 feature columns"):
        model.predict(X[:, :3])


@pytest.mark.parametrize("kind, params, message", [
    ("rf", {"n_estimators": 0}, r"models.rf.n_estimators: 0 is less than the minimum of 1"),
    ("rf", {"trees": 5}, r"models.rf: unknown parameter\(s\) \['trees'\]"),
    ("rf", {"max_samples": 1.5}, r"models.rf.max_samples: 1.5 is greater than the maximum of 1"),
    ("hgb", {"learning_rate": 0}, r"models.hgb.learning_rate: 0 is less than or equal to the minimum of 0"),
    ("mlp", {"hidden": []}, r"models.mlp.hidden: \[\] (should be non-empty|is too short)"),
    ("mlp", {"lr": -1}, r"models.mlp.lr: -1 is less than or equal to the minimum of 0"),
    ("mlp", {"dropout": 1.5}, r"models.mlp.dropout: 1.5 is greater than or equal to the maximum of 1"),
    ("mlp", {"device": "tpu"}, r"models.mlp.device: 'tpu' is not one of \['auto', 'cpu', 'cuda'\]"),
    ("rf", {"class_bias": [0.5]}, r"models.rf.class_bias: \[0.5\] is not of type 'null', 'object'"),
    ("hgb", {"class_bias": {"a": 0}}, r"models.hgb.class_bias: 0 is less than or equal to the minimum of 0"),
    ("mlp", {"class_bias": {"eyes": 0.5}},
     r"models.mlp.class_bias: unknown class\(es\) \['eyes'\]; the classes are \['bg', 'a', 'b'\]"),
])
def test_bad_parameters_are_named(store, kind, params, message):
    with pytest.raises(ValueError, match=message):
        train(kind, store[0], params)


def test_load_rejects_other_files(tmp_path):
    (tmp_path / "x.faceseg").write_text("not a model")
    with pytest.raises(InputError, match=r"x.faceseg: not a faceseg model file"):
        load_model(tmp_path / "x.faceseg")
    from faceseg.models.model_file import save_model_file

    save_model_file(tmp_path / "d.faceseg", {"some": "dict"})
    with pytest.raises(InputError, match=r"d.faceseg: not a faceseg model file"):
        load_model(tmp_path / "d.faceseg")


def test_prior_weights_restore_pixel_frequencies(tmp_path):
    from faceseg.decision import apply_class_weights, prior_weights

    attrs = {"feature_names": ["f"], "class_names": ["bg", "eye"], "feature_config": {}, "config_digest": "x",
             "class_pixel_counts": [900, 100], "class_sample_counts": [50, 50]}
    write_sample_store(tmp_path / "s.zarr", np.zeros((4, 1)), np.zeros(4), np.zeros((4, 2)), attrs)
    g = open_store(tmp_path / "s.zarr")
    np.testing.assert_allclose(prior_weights(g.attrs, 1.0), [1.8, 0.2])
    np.testing.assert_allclose(prior_weights(g.attrs, 0.5), np.sqrt([1.8, 0.2]))
    assert prior_weights(g.attrs, 0) is None
    # a balanced model's 50/50 becomes the training images' 90/10
    np.testing.assert_allclose(apply_class_weights(np.array([[0.5, 0.5]]), prior_weights(g.attrs, 1.0)), [[0.9, 0.1]])
    with pytest.raises(ValueError, match=r"prior_correction must be a number in \[0, 2\], got 3"):
        prior_weights(g.attrs, 3)


def test_class_bias_is_saved_and_weighs_the_arg_max(tmp_path, store):
    from faceseg.segment import model_labels

    group, X, _ = store
    plain = train_random_forest(group, {"n_estimators": 5, "seed": 0, "smooth_sigma": 0})
    biased = train_random_forest(group, {"n_estimators": 5, "seed": 0, "smooth_sigma": 0, "class_bias": {"b": 0.25}})
    assert plain.decision_bias is None
    biased.save(tmp_path / "m.faceseg")
    again = load_model(tmp_path / "m.faceseg")
    np.testing.assert_array_equal(again.decision_bias, [1, 1, 0.25])
    proba = plain.predict_proba(X, NAMES)[None]  # a 1 x n "image"
    np.testing.assert_array_equal(again.predict_proba(X, NAMES), proba[0])  # the bias is not in the probabilities
    base, weighed = model_labels(plain, proba)[0], model_labels(again, proba)[0]
    assert (weighed == 2).sum() < (base == 2).sum()  # class b needs 4x the evidence
    assert set(np.flatnonzero(weighed == 2)) <= set(np.flatnonzero(base == 2))


def test_split_keeps_decisions_out_of_training_and_fills_every_default():
    rf = MODEL_KINDS["rf"]
    fit, decision = rf.split({"enabled": True, "n_estimators": 5, "seed": 1, "smooth_sigma": 2})
    assert set(fit) == set(rf.fit_params) and set(decision) == set(rf.decision_params)
    assert fit["n_estimators"] == 5 and fit["min_samples_leaf"] == rf.fit_params["min_samples_leaf"].default
    assert decision == {"smooth_sigma": 2, "prior_correction": 0.25, "class_bias": None}


def test_every_kind_has_one_table_of_defaults_that_the_schema_accepts():
    from jsonschema import Draft202012Validator

    for kind in MODEL_KINDS.values():
        assert not set(kind.fit_params) & set(kind.decision_params)
        Draft202012Validator(kind.schema()).validate(kind.defaults())
        assert kind.split(kind.defaults()) == (kind.resolve_fit({}), kind.resolve_decision({}))


def test_decision_file_beside_a_model_sets_its_decisions(tmp_path):
    """The workflow trains without decision parameters and writes them beside the model; loading applies them."""
    import json

    from faceseg.decision import decision_path, prior_weights
    from faceseg.models.decision_file import write_decision

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.uint8)
    attrs = {"feature_names": NAMES, "class_names": ["bg", "a"], "feature_config": {"location": {}},
             "config_digest": "x", "class_pixel_counts": [900, 100], "class_sample_counts": [200, 200]}
    write_sample_store(tmp_path / "s.zarr", X, y, np.zeros((400, 2)), attrs)
    from faceseg.steps.training import train_model

    train_model("rf", tmp_path / "s.zarr", tmp_path / "rf.faceseg", {"n_estimators": 3})
    plain = load_model(tmp_path / "rf.faceseg")
    defaults = MODEL_KINDS["rf"].resolve_decision({})
    assert {k: plain.params[k] for k in defaults} == defaults
    write_decision("rf", {"smooth_sigma": 3, "prior_correction": 0.5, "class_bias": {"a": 0.7}},
                   decision_path(tmp_path / "rf.faceseg"))
    assert set(json.loads((tmp_path / "rf.decision.json").read_text())) == set(defaults)
    model = load_model(tmp_path / "rf.faceseg")
    assert model.params["smooth_sigma"] == 3 and model.params["n_estimators"] == 3
    np.testing.assert_allclose(model.class_weights, prior_weights(attrs, 0.5))
    np.testing.assert_allclose(model.decision_bias, [1.0, 0.7])
    with pytest.raises(ValueError, match=r"models.rf.smooth_sigma: -1 is less than the minimum of 0"):
        write_decision("rf", {"smooth_sigma": -1}, tmp_path / "bad.json")
    with pytest.raises(ValueError, match=r"models.rf: unknown parameter\(s\) \['n_estimators'\]"):
        write_decision("rf", {"n_estimators": 3}, tmp_path / "bad.json")


def test_a_new_kind_is_one_registry_entry(tmp_path, store, monkeypatch):
    """The README's worked example: extremely randomised trees, trained, saved, loaded and configured."""
    from faceseg.config import experiment_models, load_config
    from faceseg.models import ModelKind, trees
    from faceseg.models.params import RF_FIT, decision_table

    def train_extra_trees(group, p, threads):
        from sklearn.ensemble import ExtraTreesClassifier

        model = ExtraTreesClassifier(n_estimators=p["n_estimators"], min_samples_leaf=p["min_samples_leaf"],
                                     max_features=p["max_features"], n_jobs=threads, random_state=p["seed"])
        return trees.fit("et", model, group, p, threads)

    monkeypatch.setitem(trees.ROW_BLOCK, "et", 8192)
    monkeypatch.setitem(MODEL_KINDS, "et", ModelKind("et", "extremely randomised trees", False, {**RF_FIT},
                                                      decision_table(0.25), train_extra_trees, trees.predict_proba))
    group, X, y = store
    model = train("et", group, {"n_estimators": 10})
    model.save(tmp_path / "et.faceseg")
    again = load_model(tmp_path / "et.faceseg")
    assert type(again.estimator).__name__ == "ExtraTreesClassifier"
    assert (again.predict(X, NAMES) == y).mean() > 0.9
    config = load_config(Path(__file__).resolve().parents[1] / "config.yaml",
                         {"models": {"et": {"enabled": True, "n_estimators": 7}}})
    assert experiment_models(config, "icip2015")["et"]["n_estimators"] == 7
