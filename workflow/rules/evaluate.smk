# Per-class scores over the evaluation split.


rule evaluate:
    input:
        lambda wc: expand(
            "results/predictions/{{dataset}}/{{experiment}}/{{model}}/confusion/{image}.json",
            image=records(config["eval_split"]),
        ),
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
    log:
        "logs/evaluate/{dataset}/{experiment}/{model}.log",
    benchmark:
        "benchmarks/evaluate/{dataset}/{experiment}/{model}.tsv"
    threads: 1
    conda:
        "../envs/faceseg.yaml"
    script:
        "../scripts/evaluate.py"
