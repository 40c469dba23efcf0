# Figures for the reports; each is marked for `snakemake --report report.html`.


rule plot_confusion:
    input:
        paths.report_file("metrics.json"),
    output:
        report(
            paths.report_file("confusion.png"),
            caption="../report/confusion.rst",
            category="{dataset} / {experiment}",
            subcategory="{model}",
            labels={"figure": "confusion matrix", "model": "{model}"},
        ),
    log:
        "logs/plot_confusion/{dataset}/{experiment}/{model}.log",
    benchmark:
        "benchmarks/plot_confusion/{dataset}/{experiment}/{model}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=lambda wc: provenance("plot_confusion", wc.experiment),
    script:
        "../scripts/plot_confusion.py"


rule plot_iou_by_class:
    input:
        lambda wc: all_reports(),
    output:
        report(
            paths.dataset_report("iou_by_class.png"),
            caption="../report/iou_by_class.rst",
            category="{dataset} / all experiments",
            labels={"figure": "per-class IoU"},
        ),
    log:
        "logs/plot_iou_by_class/{dataset}.log",
    benchmark:
        "benchmarks/plot_iou_by_class/{dataset}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=provenance("plot_iou_by_class"),
    script:
        "../scripts/plot_iou_by_class.py"


rule plot_paired_differences:
    input:
        paths.dataset_report("paired.csv"),
    output:
        report(
            paths.dataset_report("paired_differences.png"),
            caption="../report/paired_differences.rst",
            category="{dataset} / all experiments",
            labels={"figure": "paired differences"},
        ),
    log:
        "logs/plot_paired_differences/{dataset}.log",
    benchmark:
        "benchmarks/plot_paired_differences/{dataset}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=provenance("plot_paired_differences"),
    script:
        "../scripts/plot_paired_differences.py"


rule plot_overlays:
    input:
        lambda wc: prediction_parts(wc.dataset, wc.experiment, wc.model),
    output:
        report(
            directory(paths.report_file("overlays")),
            patterns=["{name}.png"],
            caption="../report/overlays.rst",
            category="{dataset} / {experiment}",
            subcategory="{model}",
            labels={"figure": "overlay {name}", "model": "{model}"},
        ),
    log:
        "logs/plot_overlays/{dataset}/{experiment}/{model}.log",
    benchmark:
        "benchmarks/plot_overlays/{dataset}/{experiment}/{model}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=lambda wc: provenance("plot_overlays", wc.experiment),
        images=lambda wc: eval_image_files(),
        confusion=lambda wc: list(prediction_files(wc.dataset, wc.experiment, wc.model, "confusion").values()),
        predicted=lambda wc: prediction_files(wc.dataset, wc.experiment, wc.model, "labels"),
        n=config["report"]["overlays"],
    script:
        "../scripts/plot_overlays.py"


rule plot_feature_importance:
    input:
        paths.model_file(model="rf"),
    output:
        report(
            paths.report_file("feature_importance.png", model="rf"),
            caption="../report/feature_importance.rst",
            category="{dataset} / {experiment}",
            subcategory="rf",
            labels={"figure": "feature importance", "model": "rf"},
        ),
    log:
        "logs/plot_feature_importance/{dataset}/{experiment}.log",
    benchmark:
        "benchmarks/plot_feature_importance/{dataset}/{experiment}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=lambda wc: provenance("plot_feature_importance", wc.experiment),
    script:
        "../scripts/plot_feature_importance.py"
