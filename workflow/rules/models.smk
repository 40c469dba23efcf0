# Model training (one rule per model, so a parameter change reruns only its model)
# and full-resolution segmentation of the evaluation images.


rule train_rf:
    input:
        store="results/features/{dataset}/{experiment}/train.zarr",
        atlas=lambda wc: atlas_file(wc.experiment),
    output:
        "results/models/{dataset}/{experiment}/rf.joblib",
    params:
        model=lambda wc: model_params(wc.experiment, "rf"),
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
        model=lambda wc: model_params(wc.experiment, "hgb"),
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
        model=lambda wc: model_params(wc.experiment, "mlp"),
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
    # One part of the evaluation split (segmentation.images_per_job images) with one model.
    input:
        model="results/models/{dataset}/{experiment}/{model}.joblib",
        images=lambda wc: [i["image"] for i in part_images(wc.part, wc.experiment)],
        labels=lambda wc: [i["labels"] for i in part_images(wc.part, wc.experiment) if i["labels"]],
        landmarks=lambda wc: [i["landmarks"] for i in part_images(wc.part, wc.experiment) if i["landmarks"]],
    output:
        directory("results/predictions/{dataset}/{experiment}/{model}/{part}"),
    params:
        images=lambda wc: part_images(wc.part, wc.experiment),
        n_landmarks=n_landmarks(),
        tile_size=config["segmentation"]["tile_size"],
        stride=config["segmentation"]["stride"],
    log:
        "logs/segment_images/{dataset}/{experiment}/{model}/{part}.log",
    benchmark:
        "benchmarks/segment_images/{dataset}/{experiment}/{model}/{part}.tsv"
    group:
        "eval_images"
    threads: 1
    conda:
        "../envs/faceseg.yaml"
    script:
        "../scripts/segment_images.py"
