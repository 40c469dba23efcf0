# Model training (one rule per model, so a parameter change reruns only its model),
# class probabilities of the evaluation images, and the decisions taken on them.
# Training reads only a model's fit parameters and segmentation only the model,
# so a change of a decision parameter reruns only decide_labels and what follows.


rule train_rf:
    input:
        store="results/features/{dataset}/{experiment}/train.zarr",
        atlas=lambda wc: atlas_file(wc.experiment),
    output:
        "results/models/{dataset}/{experiment}/rf.joblib",
    params:
        model=lambda wc: fit_params(wc.experiment, "rf"),
    log:
        "logs/train_rf/{dataset}/{experiment}.log",
    benchmark:
        "benchmarks/train_rf/{dataset}/{experiment}.tsv"
    threads: workflow.cores
    conda:
        "../envs/faceseg.yaml"
    script:
        "../scripts/train_model.py"


rule train_hgb:
    input:
        store="results/features/{dataset}/{experiment}/train.zarr",
        atlas=lambda wc: atlas_file(wc.experiment),
    output:
        "results/models/{dataset}/{experiment}/hgb.joblib",
    params:
        model=lambda wc: fit_params(wc.experiment, "hgb"),
    log:
        "logs/train_hgb/{dataset}/{experiment}.log",
    benchmark:
        "benchmarks/train_hgb/{dataset}/{experiment}.tsv"
    threads: workflow.cores
    conda:
        "../envs/faceseg.yaml"
    script:
        "../scripts/train_model.py"


rule train_mlp:
    input:
        store="results/features/{dataset}/{experiment}/train.zarr",
        atlas=lambda wc: atlas_file(wc.experiment),
    output:
        "results/models/{dataset}/{experiment}/mlp.joblib",
    params:
        model=lambda wc: fit_params(wc.experiment, "mlp"),
    log:
        "logs/train_mlp/{dataset}/{experiment}.log",
    benchmark:
        "benchmarks/train_mlp/{dataset}/{experiment}.tsv"
    threads: workflow.cores
    conda:
        "../envs/faceseg.yaml"
    script:
        "../scripts/train_model.py"


rule segment_images:
    # One shard of the evaluation split with one model: class posteriors on the segmentation grid.
    input:
        model="results/models/{dataset}/{experiment}/{model}.joblib",
        images=lambda wc: [r.image_path for r in shard_records(config["eval_split"], wc.shard)],
        landmarks=lambda wc: landmark_inputs(config["eval_split"], wc.shard, wc.experiment),
    output:
        directory("results/probabilities/{dataset}/{experiment}/{model}/{shard}.zarr"),
    params:
        images=lambda wc: shard_images(config["eval_split"], wc.shard, wc.experiment),
        n_landmarks=n_landmarks(),
        tile_size=config["segmentation"]["tile_size"],
        stride=config["segmentation"]["stride"],
    log:
        "logs/segment_images/{dataset}/{experiment}/{model}/{shard}.log",
    benchmark:
        "benchmarks/segment_images/{dataset}/{experiment}/{model}/{shard}.tsv"
    threads: 1
    conda:
        "../envs/faceseg.yaml"
    script:
        "../scripts/segment_images.py"


localrules:
    decision_settings,


rule decision_settings:
    # A model's decision parameters, beside it: decide_labels and `faceseg segment` read them.
    output:
        "results/models/{dataset}/{experiment}/{model}.decision.json",
    params:
        decision=lambda wc: decision_params(wc.experiment, wc.model),
    log:
        "logs/decision_settings/{dataset}/{experiment}/{model}.log",
    run:
        from faceseg.steps import write_decision

        write_decision(wildcards.model, params.decision, output[0])


rule decide_labels:
    # Prior correction, smoothing and class bias on a shard's stored probabilities: labels,
    # colour pictures and confusion records.
    input:
        probabilities="results/probabilities/{dataset}/{experiment}/{model}/{shard}.zarr",
        decision="results/models/{dataset}/{experiment}/{model}.decision.json",
        labels=lambda wc: [r.label_path for r in shard_records(config["eval_split"], wc.shard) if r.label_path],
    output:
        directory("results/predictions/{dataset}/{experiment}/{model}/{shard}"),
    params:
        images=lambda wc: shard_images(config["eval_split"], wc.shard, wc.experiment),
    log:
        "logs/decide_labels/{dataset}/{experiment}/{model}/{shard}.log",
    benchmark:
        "benchmarks/decide_labels/{dataset}/{experiment}/{model}/{shard}.tsv"
    threads: 1
    conda:
        "../envs/faceseg.yaml"
    script:
        "../scripts/decide_labels.py"
