# Per-image feature stores of sampled training pixels, and their merge.


rule extract_features:
    input:
        image=lambda wc: record(wc.split, wc.image).image_path,
        labels=lambda wc: record(wc.split, wc.image).label_path or [],
        landmarks=lambda wc: landmark_file(wc.split, wc.image, wc.experiment),
    output:
        directory("results/features/{dataset}/{experiment}/{split}/{image}.zarr"),
    params:
        features=lambda wc: experiment(wc.experiment)["features"],
        sampling=lambda wc: experiment(wc.experiment)["sampling"],
        n_landmarks=n_landmarks(),
    log:
        "logs/extract_features/{dataset}/{experiment}/{split}/{image}.log",
    benchmark:
        "benchmarks/extract_features/{dataset}/{experiment}/{split}/{image}.tsv"
    # On a cluster, images are submitted in batches (group-components in the slurm profile).
    group:
        "train_images"
    threads: 1
    conda:
        "../envs/faceseg.yaml"
    script:
        "../scripts/extract_features.py"


rule merge_features:
    input:
        lambda wc: expand(
            "results/features/{{dataset}}/{{experiment}}/{split}/{image}.zarr",
            split=config["train_split"],
            image=records(config["train_split"]),
        ),
    output:
        directory("results/features/{dataset}/{experiment}/train.zarr"),
    log:
        "logs/merge_features/{dataset}/{experiment}.log",
    benchmark:
        "benchmarks/merge_features/{dataset}/{experiment}.tsv"
    threads: 1
    conda:
        "../envs/faceseg.yaml"
    script:
        "../scripts/merge_features.py"
