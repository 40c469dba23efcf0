"""Code fingerprints of the rules' stages (faceseg.provenance): what they reach, what they leave out.

The reruns they cause are tested with real Snakemake runs in test_workflow.py
(test_a_library_code_change_reruns_the_stages_it_reaches).
"""

import ast

from conftest import REPO

from faceseg import provenance

SCRIPTS = REPO / "workflow" / "scripts"


def _reach(script, groups=None):
    reach = provenance._Reach(provenance.unused_group_modules(groups))
    for module, name in provenance._entries_of_script(SCRIPTS / f"{script}.py"):
        reach.symbol(module, name)
    return reach


def test_each_stage_reaches_what_it_runs_and_the_libraries_that_compute():
    training = provenance.stage_provenance(SCRIPTS / "train_model.py")
    assert {"torch", "scikit-learn", "numpy", "zarr"} <= set(training["libraries"])
    assert set(provenance.stage_provenance(SCRIPTS / "evaluate.py")["libraries"]) <= {"numpy", "scipy"}
    assert set(provenance.stage_provenance(SCRIPTS / "detect_landmarks.py")["libraries"]) == {"dlib-bin", "numpy"}
    decide = {name for module, name in _reach("decide_labels").symbols if module == "faceseg.decision"}
    segment = {name for module, name in _reach("segment_images").symbols if module == "faceseg.decision"}
    # The smoothing and arg-max are decisions only; segmentation stores the posteriors before them.
    assert {"smoothed", "biased_argmax", "apply_class_weights"} <= decide
    assert not {"smoothed", "biased_argmax"} & segment
    assert not [m for m in _reach("plot_confusion").visited_modules if m.startswith("faceseg.features")]


def test_an_experiment_reaches_only_its_feature_groups():
    with_hog = _reach("extract_features", ["colour", "location", "hog"])
    without = _reach("extract_features", ["colour", "location"])
    assert "faceseg.features.hog" in with_hog.modules and "faceseg.features.hog" not in without.modules
    assert "faceseg.features.colour" in without.modules
    assert "faceseg.features.landmarks" not in without.modules
    assert with_hog.digest() != without.digest()
    same = provenance.stage_provenance(SCRIPTS / "extract_features.py", feature_groups=["location", "colour"])
    assert same == provenance.stage_provenance(SCRIPTS / "extract_features.py", feature_groups=["colour", "location"])


def test_docstrings_comments_and_layout_do_not_count():
    a = "def f(x):\n    '''Doc.'''\n    # a comment\n    return x + 1\n"
    b = "def f(x):\n    return (x\n            + 1)\n"
    c = "def f(x):\n    return x + 2\n"
    dump = [provenance._dump(provenance._strip_docstrings(ast.parse(s))) for s in (a, b, c)]
    assert dump[0] == dump[1] != dump[2]


def test_a_result_records_the_package_and_every_computing_library():
    stage = provenance.stage_provenance(SCRIPTS / "evaluate.py")
    made = provenance.record(stage)
    assert made["stage_code"] == stage["code"] and len(made["package"]) == 16
    assert set(made["libraries"]) == set(provenance.COMPUTE_LIBRARIES.values())
    assert provenance.describe(made).startswith(f"faceseg {made['faceseg']}, code {made['package']}; dlib-bin ")
    assert provenance.describe(None) == "not recorded"
