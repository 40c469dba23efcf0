"""The one configuration loader: schema, the model registry's defaults, dataset settings, errors that name the key."""

from pathlib import Path

import pytest
import yaml

from faceseg.config import ConfigError, assignment, experiment_models, load_config
from faceseg.models import MODEL_KINDS

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"


def test_every_model_default_comes_from_the_registry():
    shipped = yaml.safe_load(REPO_CONFIG.read_text())["models"]
    # config.yaml only switches kinds on and off: no parameter value to disagree with the tables.
    assert all(set(params) <= {"enabled"} for params in shipped.values())
    config = load_config(REPO_CONFIG)
    for name, kind in MODEL_KINDS.items():
        assert config["models"][name] == {**kind.defaults(), **shipped.get(name, {})}


def test_overrides_merge_key_by_key_and_experiments_override_the_top_level():
    config = load_config(REPO_CONFIG, {"models": {"rf": {"n_estimators": 7}},
                                       "experiments": {"icip2015": {"models": {"rf": {"min_samples_leaf": 9}}}}})
    rf = MODEL_KINDS["rf"]
    assert config["models"]["rf"]["n_estimators"] == 7
    assert config["models"]["rf"]["max_samples"] == rf.fit_params["max_samples"].default
    icip = experiment_models(config, "icip2015")["rf"]
    assert icip["n_estimators"] == 7 and icip["min_samples_leaf"] == 9
    assert experiment_models(config, "landmarks")["rf"]["min_samples_leaf"] == rf.fit_params["min_samples_leaf"].default


def test_dataset_settings_apply_to_their_dataset_only():
    lapa = load_config(REPO_CONFIG, {"dataset": "lapa"})
    settings = yaml.safe_load(REPO_CONFIG.read_text())["dataset_settings"]["lapa"]
    assert all(e["sampling"]["samples_per_image"] == settings["samples_per_image"]
               for e in lapa["experiments"].values())
    assert lapa["models"]["rf"]["min_samples_leaf"] == settings["models"]["rf"]["min_samples_leaf"]
    fasseg = load_config(REPO_CONFIG)
    assert fasseg["models"]["rf"]["min_samples_leaf"] == MODEL_KINDS["rf"].fit_params["min_samples_leaf"].default


@pytest.mark.parametrize("overrides, message", [
    ({"segmentation": {"stride": 9}}, "segmentation.stride: 9 is greater than the maximum of 8"),
    ({"segmentation": {"stride": 3}}, "segmentation.stride: 3 does not divide segmentation.tile_size 256"),
    ({"models": {"hgb": {"max_leaf_nodes": "many"}}}, "models.hgb.max_leaf_nodes: 'many' is not of type 'integer'"),
    ({"models": {"svm": {"enabled": True}}}, "Additional properties are not allowed ('svm' was unexpected)"),
    ({"experiments": {"best": {"models": {"mlp": {"lr": 0}}}}},
     "experiments.best.models.mlp.lr: 0 is less than or equal to the minimum of 0"),
    ({"experiments": {"best": {"features": {"colour": {"spaces": ["xyz"]}}}}}, "unknown value 'xyz'"),
    ({"experiments": {"best": {"features": {"texture": {}}}}}, "unknown feature group(s) ['texture']"),
    ({"run_experiments": ["nope"]}, "run_experiments names unknown experiment 'nope'"),
    ({"models": {"rf": {"enabled": False}, "mlp": {"enabled": False}}}, "experiment 'icip2015' trains no model"),
])
def test_a_bad_configuration_names_the_key_and_the_value(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_config(REPO_CONFIG, overrides)
    assert message in str(error.value)


def test_assignments_and_a_missing_file():
    assert assignment("models.rf.n_estimators=5") == {"models": {"rf": {"n_estimators": 5}}}
    assert assignment("run_experiments=[best]") == {"run_experiments": ["best"]}
    with pytest.raises(ConfigError, match="key.path=value"):
        assignment("models.rf")
    with pytest.raises(ConfigError, match="nothere.yaml: cannot read the configuration"):
        load_config("nothere.yaml")


def test_tune_refuses_a_bad_override_with_a_message(capsys):
    from faceseg.tune import main

    with pytest.raises(SystemExit) as exit_:
        main(["--config", str(REPO_CONFIG), "--set", "models.mlp.epochs=0"])
    assert exit_.value.code == 2
    assert "models.mlp.epochs: 0 is less than the minimum of 1" in capsys.readouterr().err


def test_an_experiment_chooses_its_landmarks_and_a_dataset_adds_experiments():
    from faceseg.config import landmark_source, n_landmarks

    lapa = load_config(REPO_CONFIG, {"dataset": "lapa"})
    assert lapa["run_experiments"][-1] == "best-image-only"  # dataset_settings.lapa.also_run
    assert (landmark_source(lapa, "best"), n_landmarks(lapa, "best")) == ("annotated", 106)
    assert (landmark_source(lapa, "best-image-only"), n_landmarks(lapa, "best-image-only")) == ("detected", 68)
    fasseg = load_config(REPO_CONFIG)
    assert "best-image-only" not in fasseg["run_experiments"] and n_landmarks(fasseg, "best") == 68
    with pytest.raises(ConfigError, match="experiments.best.landmarks: fasseg ships no annotated landmarks"):
        load_config(REPO_CONFIG, {"experiments": {"best": {"landmarks": "annotated"}}})


def test_decisions_are_never_chosen_on_the_evaluation_split():
    from faceseg.config import validation_split

    assert validation_split(load_config(REPO_CONFIG, {"dataset": "lapa"})) == "val"
    assert validation_split(load_config(REPO_CONFIG)) is None
    with pytest.raises(ConfigError, match="decision_search.split.lapa: 'test' is the training or evaluation split"):
        load_config(REPO_CONFIG, {"dataset": "lapa", "decision_search": {"split": {"lapa": "test"}}})
