# Shard stores of sampled training pixels (a group per image), and their merge.


rule extract_features:
    # One shard of the training split: libraries, configuration and atlas loaded once for all its images.
    input:
        images=lambda wc: [r.image_path for r in shard_records(wc.split, wc.shard)],
        labels=lambda wc: [r.label_path for r in shard_records(wc.split, wc.shard) if r.label_path],
        landmarks=lambda wc: landmark_inputs(wc.split, wc.shard, wc.experiment),
        atlas=lambda wc: atlas_file(wc.experiment),
    output:
        directory(paths.feature_shard()),
    log:
        "logs/extract_features/{dataset}/{experiment}/{split}/{shard}.log",
    benchmark:
        "benchmarks/extract_features/{dataset}/{experiment}/{split}/{shard}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=lambda wc: provenance("extract_features", wc.experiment),
        images=lambda wc: shard_images(wc.split, wc.shard, wc.experiment),
        features=lambda wc: experiment_features(wc.experiment),
        sampling=lambda wc: experiment(wc.experiment)["sampling"],
        n_landmarks=lambda wc: n_landmarks(wc.experiment),
        framing=FRAMING,
    script:
        "../scripts/extract_features.py"


rule label_atlas:
    # The training images whose labels the label_atlas features carry onto each face.
    input:
        images=lambda wc: [i[1] for i in atlas_images(wc.experiment)],
        labels=lambda wc: [i[2] for i in atlas_images(wc.experiment) if i[2]],
        landmarks=lambda wc: atlas_landmark_inputs(wc.experiment),
    output:
        paths.atlas_file(),
    log:
        "logs/label_atlas/{dataset}/{experiment}.log",
    benchmark:
        "benchmarks/label_atlas/{dataset}/{experiment}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=lambda wc: provenance("build_atlas", wc.experiment),
        images=lambda wc: atlas_images(wc.experiment),
        split=config["train_split"],
        n_landmarks=lambda wc: n_landmarks(wc.experiment),
    script:
        "../scripts/build_atlas.py"


rule merge_features:
    input:
        lambda wc: training_shard_stores(wc.dataset, wc.experiment),
    output:
        directory(paths.training_store()),
    log:
        "logs/merge_features/{dataset}/{experiment}.log",
    benchmark:
        "benchmarks/merge_features/{dataset}/{experiment}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=lambda wc: provenance("merge_features", wc.experiment),
        # The split's listing order: the merged rows do not depend on the sharding.
        order=lambda wc: list(records(config["train_split"])),
    script:
        "../scripts/merge_features.py"
