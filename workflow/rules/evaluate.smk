# Per-class scores over the evaluation split.


rule evaluate:
    input:
        lambda wc: prediction_parts(wc.dataset, wc.experiment, wc.model),
    output:
        metrics="results/reports/{dataset}/{experiment}/{model}/metrics.json",
        per_class=report(
            "results/reports/{dataset}/{experiment}/{model}/per_class.csv",
            caption="../report/per_class.rst",
            category="{dataset} / {experiment}",
            subcategory="{model}",
            labels={"figure": "per-class scores (CSV)", "model": "{model}"},
        ),
        table=report(
            "results/reports/{dataset}/{experiment}/{model}/per_class.html",
            caption="../report/per_class.rst",
            category="{dataset} / {experiment}",
            subcategory="{model}",
            labels={"figure": "per-class scores", "model": "{model}"},
        ),
        report="results/reports/{dataset}/{experiment}/{model}/report.md",
    params:
        confusion=lambda wc: list(prediction_files(wc.dataset, wc.experiment, wc.model, "confusion").values()),
    log:
        "logs/evaluate/{dataset}/{experiment}/{model}.log",
    benchmark:
        "benchmarks/evaluate/{dataset}/{experiment}/{model}.tsv"
    threads: 1
    conda:
        "../envs/faceseg.yaml"
    script:
        "../scripts/evaluate.py"


rule summarise:
    input:
        lambda wc: all_reports(),
    output:
        md=report(
            "results/reports/{dataset}/summary.md",
            caption="../report/summary.rst",
            category="{dataset} / all experiments",
            labels={"figure": "summary (Markdown)"},
        ),
        csv=report(
            "results/reports/{dataset}/summary.csv",
            caption="../report/summary.rst",
            category="{dataset} / all experiments",
            labels={"figure": "summary (CSV)"},
        ),
    params:
        descriptions={name: experiment(name).get("description", "") for name in config["run_experiments"]},
    log:
        "logs/summarise/{dataset}.log",
    benchmark:
        "benchmarks/summarise/{dataset}.tsv"
    threads: 1
    conda:
        "../envs/faceseg.yaml"
    script:
        "../scripts/summarise.py"


rule per_pose:
    input:
        lambda wc: [part for name, model in runs() for part in prediction_parts(wc.dataset, name, model)],
    output:
        md="results/reports/{dataset}/per_pose.md",
        csv="results/reports/{dataset}/per_pose.csv",
    params:
        runs=lambda wc: {
            f"{name} / {model}": list(prediction_files(wc.dataset, name, model, "confusion").values())
            for name, model in runs()
        },
        class_names=list(SPEC.class_names),
    log:
        "logs/per_pose/{dataset}.log",
    benchmark:
        "benchmarks/per_pose/{dataset}.tsv"
    threads: 1
    conda:
        "../envs/faceseg.yaml"
    script:
        "../scripts/per_pose.py"
