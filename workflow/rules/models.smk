# Model training (one rule per model, so a parameter change reruns only its model)
# and full-resolution segmentation of the evaluation images.


rule train_rf:
    input:
        "results/features/{dataset}/{experiment}/train.zarr",
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
        "results/features/{dataset}/{experiment}/train.zarr",
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
        "results/features/{dataset}/{experiment}/train.zarr",
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
        images=lambda wc: [record(config["eval_split"], i).image_path for i in eval_parts()[wc.part]],
        labels=lambda wc: [
            r.label_path for r in (record(config["eval_split"], i) for i in eval_parts()[wc.part]) if r.label_path
        ],
        landmarks=lambda wc: [
            path for i in eval_parts()[wc.part] if (path := landmark_file(config["eval_split"], i, wc.experiment))
        ],
    output:
        directory("results/predictions/{dataset}/{experiment}/{model}/{part}"),
    params:
        images=lambda wc: [
            {
                "image_id": i,
                "image": str(record(config["eval_split"], i).image_path),
                "labels": str(record(config["eval_split"], i).label_path or "") or None,
                "landmarks": landmark_file(config["eval_split"], i, wc.experiment) or None,
            }
            for i in eval_parts()[wc.part]
        ],
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
