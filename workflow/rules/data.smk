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
    params:
        # config fasseg_url: a mirror or a local archive; null: GitHub's.
        urls=[config["fasseg_url"]] if config.get("fasseg_url") else None,
    script:
        "../scripts/download_fasseg.py"


rule data_digest:
    # One shard of a split: the digests of its files' decoded pixels; FASSEG's checked against the published ones.
    input:
        lambda wc: [str(p) for r in shard_records(wc.split, wc.shard) for p in (r.image_path, r.label_path) if p],
    output:
        paths.data_digest(),
    log:
        "logs/data_digest/{dataset}/{split}/{shard}.log",
    benchmark:
        "benchmarks/data_digest/{dataset}/{split}/{shard}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=provenance("data_digest"),
        images=lambda wc: [
            {"image_id": r.image_id, "image": str(r.image_path), "label": str(r.label_path) if r.label_path else None}
            for r in shard_records(wc.split, wc.shard)
        ],
        root=_config.dataset_root(config),
        accept_changed=config.get("accept_changed_data", False),
    script:
        "../scripts/data_digest.py"


rule detect_landmarks:
    # One shard of a split: dlib's detector and predictor are loaded once for all its images.
    input:
        images=lambda wc: [r.image_path for r in shard_records(wc.split, wc.shard)],
    output:
        directory(paths.landmark_dir()),
    log:
        "logs/detect_landmarks/{dataset}/{split}/{shard}.log",
    benchmark:
        "benchmarks/detect_landmarks/{dataset}/{split}/{shard}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=provenance("detect_landmarks"),
        images=lambda wc: [
            {"image_id": r.image_id, "image": str(r.image_path)} for r in shard_records(wc.split, wc.shard)
        ],
        detection=config["detection"],
    script:
        "../scripts/detect_landmarks.py"
