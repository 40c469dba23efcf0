# Head pose from segmentation (FASSEG V3; Khan et al., ICME 2017): per-pose models,
# what they say of each photo, a pose classifier, the pose table on the evaluation split
# and the cross-validation by person on the training persons.
# Folds: "all" trains on every training person; "without-personNN" leaves person NN
# out, so the classifier learns from maps of photos whose person the models never saw.


wildcard_constraints:
    fold="all|without-person[0-9]+",
    part="shard[0-9]+|person[0-9]+",


rule train_pose_models:
    input:
        lambda wc: training_shard_stores(wc.dataset, wc.experiment),
    output:
        directory(paths.pose_model_dir()),
    log:
        "logs/train_pose_models/{dataset}/{experiment}/{fold}/{model}.log",
    benchmark:
        "benchmarks/train_pose_models/{dataset}/{experiment}/{fold}/{model}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: workflow.cores
    params:
        provenance=lambda wc: provenance("train_pose_models", wc.experiment),
        images=lambda wc: pose_training_images(wc.fold),
        model=lambda wc: model_params(wc.experiment, wc.model),
    script:
        "../scripts/train_pose_models.py"


rule estimate_pose:
    # One evaluation shard with the models of every training person, or one training
    # person's photos with the models that left that person out.
    input:
        models=lambda wc: paths.pose_model_dir(wc.dataset, wc.experiment, wc.model, pose_fold(wc.part)),
        images=lambda wc: [i["image"] for i in pose_part_images(wc.split, wc.part, wc.experiment)],
        landmarks=lambda wc: pose_part_landmarks(wc.split, wc.part, wc.experiment),
    output:
        paths.pose_evidence(),
    log:
        "logs/estimate_pose/{dataset}/{experiment}/{model}/{split}/{part}.log",
    benchmark:
        "benchmarks/estimate_pose/{dataset}/{experiment}/{model}/{split}/{part}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=lambda wc: provenance("estimate_pose", wc.experiment),
        images=lambda wc: pose_part_images(wc.split, wc.part, wc.experiment),
        n_landmarks=lambda wc: n_landmarks(wc.experiment),
        tile_size=config["segmentation"]["tile_size"],
        stride=config["pose"]["stride"],
    script:
        "../scripts/estimate_pose.py"


rule train_pose_classifier:
    input:
        lambda wc: [
            paths.pose_evidence(wc.dataset, wc.experiment, wc.model, config["train_split"], f"person{p:02d}")
            for p in training_persons()
        ],
    output:
        paths.pose_classifier_file(),
    log:
        "logs/train_pose_classifier/{dataset}/{experiment}/{model}.log",
    benchmark:
        "benchmarks/train_pose_classifier/{dataset}/{experiment}/{model}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: workflow.cores
    params:
        provenance=lambda wc: provenance("train_pose_classifier", wc.experiment),
    script:
        "../scripts/train_pose_classifier.py"


rule pose_report:
    input:
        evidence=lambda wc: [f for files in pose_eval_evidence(wc.dataset).values() for f in files],
        classifiers=lambda wc: [paths.pose_classifier_file(wc.dataset, e, m) for e, m in POSE_RUNS],
        landmarks=lambda wc: [
            landmark_dir(s, shard) for s in (config["train_split"], config["eval_split"]) for shard in shards(s)
        ],
    output:
        md=report(
            paths.dataset_report("pose.md"),
            caption="../report/pose.rst",
            category="{dataset} / head pose",
            labels={"figure": "pose table (Markdown)"},
        ),
        csv=report(
            paths.dataset_report("pose.csv"),
            caption="../report/pose.rst",
            category="{dataset} / head pose",
            labels={"figure": "pose table (CSV)"},
        ),
        images=paths.dataset_report("pose_images.csv"),
        confusion=report(
            paths.dataset_report("pose_confusion.png"),
            caption="../report/pose.rst",
            category="{dataset} / head pose",
            labels={"figure": "pose confusion matrix"},
        ),
    log:
        "logs/pose_report/{dataset}.log",
    benchmark:
        "benchmarks/pose_report/{dataset}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=provenance("pose_report"),
        evidence=lambda wc: pose_eval_evidence(wc.dataset),
        classifiers=lambda wc: {f"{e} / {m}": paths.pose_classifier_file(wc.dataset, e, m) for e, m in POSE_RUNS},
        eval_images=lambda wc: baseline_images(config["eval_split"]),
        train_images=lambda wc: baseline_images(config["train_split"]),
        split_note=_config.split_note(config),
        train_persons=lambda wc: training_persons(),
    script:
        "../scripts/pose_report.py"


rule pose_cv:
    # Cross-validation by person on the training persons only: runs without an evaluation split.
    input:
        evidence=lambda wc: [f for files, _ in pose_cv_runs(wc.dataset).values() for f in files],
        classifiers=lambda wc: [c for _, c in pose_cv_runs(wc.dataset).values()],
    output:
        md=report(
            paths.dataset_report("pose_cv.md"),
            caption="../report/pose.rst",
            category="{dataset} / head pose",
            labels={"figure": "pose cross-validation (Markdown)"},
        ),
        csv=paths.dataset_report("pose_cv.csv"),
    log:
        "logs/pose_cv/{dataset}.log",
    benchmark:
        "benchmarks/pose_cv/{dataset}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=provenance("pose_cv"),
        runs=lambda wc: pose_cv_runs(wc.dataset),
        stride=config["pose"]["stride"],
    script:
        "../scripts/pose_cv.py"
