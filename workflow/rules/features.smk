# Per-image feature stores of sampled training pixels, and their merge.


rule extract_features:
    input:
        image=lambda wc: record(wc.split, wc.image).image_path,
        labels=lambda wc: record(wc.split, wc.image).label_path or [],
        landmarks=lambda wc: landmark_file(wc.split, wc.image, wc.experiment),
        atlas=lambda wc: atlas_file(wc.experiment),
    output:
        directory("results/features/{dataset}/{experiment}/{split}/{image}.zarr"),
    params:
        features=lambda wc: experiment_features(wc.experiment),
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


rule label_atlas:
    # The training images whose labels the label_atlas features carry onto each face.
    input:
        images=lambda wc: [i[1] for i in atlas_images(wc.experiment)],
        labels=lambda wc: [i[2] for i in atlas_images(wc.experiment) if i[2]],
        landmarks=lambda wc: [i[3] for i in atlas_images(wc.experiment)],
    output:
        "results/features/{dataset}/{experiment}/label_atlas.npz",
    params:
        images=lambda wc: atlas_images(wc.experiment),
        split=config["train_split"],
        n_landmarks=n_landmarks(),
    log:
        "logs/label_atlas/{dataset}/{experiment}.log",
    benchmark:
        "benchmarks/label_atlas/{dataset}/{experiment}.tsv"
    threads: 1
    conda:
        "../envs/faceseg.yaml"
    script:
        "../scripts/build_atlas.py"


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
