# Dataset acquisition and landmark detection.


localrules:
    download_fasseg,


checkpoint download_fasseg:
    output:
        directory(DOWNLOADED_FASSEG),
    log:
        "logs/download_fasseg.log",
    benchmark:
        "benchmarks/download_fasseg.tsv"
    conda:
        "../envs/faceseg.yaml"
    script:
        "../scripts/download_fasseg.py"


rule detect_landmarks:
    input:
        image=lambda wc: record(wc.split, wc.image).image_path,
    output:
        "results/landmarks/{dataset}/{split}/{image}.txt",
    params:
        detection=config["detection"],
    log:
        "logs/detect_landmarks/{dataset}/{split}/{image}.log",
    benchmark:
        "benchmarks/detect_landmarks/{dataset}/{split}/{image}.tsv"
    # Batched apart from the feature extraction: the label atlas needs the
    # landmarks of several training images before any of their features; the
    # evaluation images' need not wait for the models.
    group:
        lambda wc: "train_landmarks" if wc.split == config["train_split"] else "eval_landmarks"
    threads: 1
    conda:
        "../envs/faceseg.yaml"
    script:
        "../scripts/detect_landmarks.py"
