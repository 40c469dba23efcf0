# Per-class scores over the evaluation split.


rule evaluate:
    input:
        predictions=lambda wc: prediction_parts(wc.dataset, wc.experiment, wc.model),
        decision=paths.decision_file(),
        data=lambda wc: data_digest_files(wc.dataset, config["eval_split"]),
    output:
        metrics=paths.report_file("metrics.json"),
        per_class=report(
            paths.report_file("per_class.csv"),
            caption="../report/per_class.rst",
            category="{dataset} / {experiment}",
            subcategory="{model}",
            labels={"figure": "per-class scores (CSV)", "model": "{model}"},
        ),
        table=report(
            paths.report_file("per_class.html"),
            caption="../report/per_class.rst",
            category="{dataset} / {experiment}",
            subcategory="{model}",
            labels={"figure": "per-class scores", "model": "{model}"},
        ),
        report=paths.report_file("report.md"),
        per_image=paths.report_file("per_image.csv"),
    log:
        "logs/evaluate/{dataset}/{experiment}/{model}.log",
    benchmark:
        "benchmarks/evaluate/{dataset}/{experiment}/{model}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=lambda wc: provenance("evaluate", wc.experiment),
        confusion=lambda wc: list(prediction_files(wc.dataset, wc.experiment, wc.model, "confusion").values()),
    script:
        "../scripts/evaluate.py"


rule summarise:
    input:
        metrics=lambda wc: all_reports(),
        per_image=lambda wc: [paths.report_file("per_image.csv", DATASET, name, model) for name, model in runs()],
    output:
        md=report(
            paths.dataset_report("summary.md"),
            caption="../report/summary.rst",
            category="{dataset} / all experiments",
            labels={"figure": "summary (Markdown)"},
        ),
        csv=report(
            paths.dataset_report("summary.csv"),
            caption="../report/summary.rst",
            category="{dataset} / all experiments",
            labels={"figure": "summary (CSV)"},
        ),
        paired=paths.dataset_report("paired.csv"),
    log:
        "logs/summarise/{dataset}.log",
    benchmark:
        "benchmarks/summarise/{dataset}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=provenance("summarise"),
        descriptions={name: experiment(name).get("description", "") for name in config["run_experiments"]},
        protocols={name: test_protocol(name) for name in config["run_experiments"]},
        reference="{experiment} / {model}".format(**config["report"]["reference"]),
        metric=SPEC.reported_metric,
    script:
        "../scripts/summarise.py"


rule per_pose:
    input:
        lambda wc: [part for name, model in runs() for part in prediction_parts(wc.dataset, name, model)],
        lambda wc: [f for run in own_pose_runs(wc.dataset).values() for f in [*run["evidence"], run["models"]]],
    output:
        md=paths.dataset_report("per_pose.md"),
        csv=paths.dataset_report("per_pose.csv"),
    log:
        "logs/per_pose/{dataset}.log",
    benchmark:
        "benchmarks/per_pose/{dataset}.tsv"
    conda:
        "../envs/faceseg.yaml"
    threads: 1
    params:
        provenance=provenance("per_pose"),
        runs=lambda wc: {
            f"{name} / {model}": list(prediction_files(wc.dataset, name, model, "confusion").values())
            for name, model in runs()
        },
        class_names=list(SPEC.class_names),
        own_pose_runs=lambda wc: own_pose_runs(wc.dataset),
        images=lambda wc: [
            {"image_id": i, "labels": str(r.label_path) if r.label_path else None}
            for i, r in records(config["eval_split"]).items()
        ],
        stride=config["pose"]["stride"],
    script:
        "../scripts/per_pose.py"
