# Model training (one job per experiment and model, so a parameter change reruns only its model),
# class probabilities of the evaluation images, and the decisions taken on them.
# Training reads only a model's fit parameters and segmentation only the model,
# so a change of a decision parameter reruns only decide_labels and what follows.


rule train_model:
    # One rule for every model kind (faceseg.models.MODEL_KINDS): the {model} wildcard picks it.
    input:
        store=paths.training_store(),
        atlas=lambda wc: atlas_file(wc.experiment),
        data=lambda wc: data_digest_files(wc.dataset, config["train_split"]),
    output:
        paths.model_file(),
    log:
        "logs/train_model/{dataset}/{experiment}/{model}.log",
    benchmark:
        "benchmarks/train_model/{dataset}/{experiment}/{model}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: training_threads
    params:
        provenance=lambda wc: provenance("train_model", wc.experiment),
        model=lambda wc: fit_params(wc.experiment, wc.model),
    script:
        "../scripts/train_model.py"


rule segment_images:
    # One shard of the evaluation split with one model: class posteriors on the segmentation grid.
    input:
        model=paths.model_file(),
        images=lambda wc: [r.image_path for r in shard_records(config["eval_split"], wc.shard)],
        landmarks=lambda wc: landmark_inputs(config["eval_split"], wc.shard, wc.experiment),
    output:
        directory(paths.probability_store()),
    log:
        "logs/segment_images/{dataset}/{experiment}/{model}/{shard}.log",
    benchmark:
        "benchmarks/segment_images/{dataset}/{experiment}/{model}/{shard}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=lambda wc: provenance("segment_images", wc.experiment),
        images=lambda wc: shard_images(config["eval_split"], wc.shard, wc.experiment),
        n_landmarks=lambda wc: n_landmarks(wc.experiment),
        tile_size=config["segmentation"]["tile_size"],
        stride=config["segmentation"]["stride"],
    script:
        "../scripts/segment_images.py"


if VALIDATION_SPLIT:

    rule segment_validation:
        # The validation split's posteriors, one shard per job: what choose_decision scores.
        input:
            model=paths.model_file(),
            images=lambda wc: [r.image_path for r in shard_records(VALIDATION_SPLIT, wc.shard)],
            landmarks=lambda wc: landmark_inputs(VALIDATION_SPLIT, wc.shard, wc.experiment),
        output:
            directory(paths.validation_probability_store(split=VALIDATION_SPLIT)),
        log:
            "logs/segment_validation/{dataset}/{experiment}/{model}/{shard}.log",
        benchmark:
            "benchmarks/segment_validation/{dataset}/{experiment}/{model}/{shard}.tsv"
        conda:
            "../envs/faceseg.yaml"
        threads: 1
        params:
            provenance=lambda wc: provenance("segment_images", wc.experiment),
            images=lambda wc: shard_images(VALIDATION_SPLIT, wc.shard, wc.experiment),
            n_landmarks=lambda wc: n_landmarks(wc.experiment),
            tile_size=config["segmentation"]["tile_size"],
            stride=config["segmentation"]["stride"],
        script:
            "../scripts/segment_images.py"

    rule score_decisions:
        # Every candidate decision on one validation shard's stored posteriors (no refit).
        input:
            probabilities=paths.validation_probability_store(split=VALIDATION_SPLIT),
            labels=lambda wc: [r.label_path for r in shard_records(VALIDATION_SPLIT, wc.shard) if r.label_path],
        output:
            paths.decision_scores(split=VALIDATION_SPLIT),
        log:
            "logs/score_decisions/{dataset}/{experiment}/{model}/{shard}.log",
        benchmark:
            "benchmarks/score_decisions/{dataset}/{experiment}/{model}/{shard}.tsv"
        conda:
            "../envs/faceseg.yaml"
        threads: 1
        params:
            provenance=lambda wc: provenance("score_decisions", wc.experiment),
            images=lambda wc: shard_images(VALIDATION_SPLIT, wc.shard, wc.experiment),
            decision=lambda wc: decision_params(wc.experiment, wc.model),
            prior_grid=config["decision_search"]["prior_correction"],
            sigma_grid=config["decision_search"]["smooth_sigma"],
        script:
            "../scripts/score_decisions.py"

    rule choose_decision:
        # A model's decision parameters: the best candidate over the whole validation split.
        input:
            lambda wc: decision_score_files(wc.dataset, wc.experiment, wc.model),
        output:
            paths.decision_file(),
        log:
            "logs/choose_decision/{dataset}/{experiment}/{model}.log",
        benchmark:
            "benchmarks/choose_decision/{dataset}/{experiment}/{model}.tsv"
        conda:
            "../envs/faceseg.yaml"
        threads: 1
        params:
            provenance=lambda wc: provenance("choose_decision", wc.experiment),
            decision=lambda wc: decision_params(wc.experiment, wc.model),
            split=VALIDATION_SPLIT,
            stride=config["segmentation"]["stride"],
        script:
            "../scripts/choose_decision.py"

else:

    localrules:
        decision_settings,

    rule decision_settings:
        # A model's decision parameters, beside it: decide_labels and `faceseg segment` read them.
        output:
            paths.decision_file(),
        log:
            "logs/decision_settings/{dataset}/{experiment}/{model}.log",
        params:
            provenance=lambda wc: provenance(
                entries=["faceseg.models.decision_file:write_decision"], experiment_name=wc.experiment
            ),
            decision=lambda wc: decision_params(wc.experiment, wc.model),
            stride=config["segmentation"]["stride"],
        run:
            from faceseg.models.decision_file import write_decision

            write_decision(wildcards.model, params.decision, output[0], stride=params.stride)


rule decide_labels:
    # Prior correction, smoothing and class bias on a shard's stored probabilities: labels,
    # colour pictures and confusion records.
    input:
        probabilities=paths.probability_store(),
        decision=paths.decision_file(),
        labels=lambda wc: [r.label_path for r in shard_records(config["eval_split"], wc.shard) if r.label_path],
    output:
        directory(paths.prediction_dir()),
    log:
        "logs/decide_labels/{dataset}/{experiment}/{model}/{shard}.log",
    benchmark:
        "benchmarks/decide_labels/{dataset}/{experiment}/{model}/{shard}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=lambda wc: provenance("decide_labels", wc.experiment),
        images=lambda wc: shard_images(config["eval_split"], wc.shard, wc.experiment),
    script:
        "../scripts/decide_labels.py"
