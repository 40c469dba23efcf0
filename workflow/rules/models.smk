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


rule segment_image:
    input:
        model="results/models/{dataset}/{experiment}/{model}.joblib",
        image=lambda wc: record(config["eval_split"], wc.image).image_path,
        labels=lambda wc: record(config["eval_split"], wc.image).label_path or [],
        landmarks=lambda wc: landmark_file(config["eval_split"], wc.image, wc.experiment),
    output:
        labels="results/predictions/{dataset}/{experiment}/{model}/labels/{image}.png",
        colour="results/predictions/{dataset}/{experiment}/{model}/colour/{image}.png",
        confusion="results/predictions/{dataset}/{experiment}/{model}/confusion/{image}.json",
    params:
        n_landmarks=n_landmarks(),
        tile_size=config["segmentation"]["tile_size"],
        stride=config["segmentation"]["stride"],
    log:
        "logs/segment_image/{dataset}/{experiment}/{model}/{image}.log",
    benchmark:
        "benchmarks/segment_image/{dataset}/{experiment}/{model}/{image}.tsv"
    group:
        "eval_images"
    threads: 1
    conda:
        "../envs/faceseg.yaml"
    script:
        "../scripts/segment_image.py"
