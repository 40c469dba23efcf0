from faceseg.logutil import rule_log
from faceseg.steps.scoring import evaluate

with rule_log(snakemake.log[0]):
    evaluate(
        snakemake.params.confusion,
        snakemake.output.metrics,
        snakemake.output.per_class,
        snakemake.output.report,
        dataset=snakemake.config["dataset"],
        info={k: snakemake.wildcards[k] for k in ("dataset", "experiment", "model")},
        out_html=snakemake.output.table,
        provenance=snakemake.params.provenance,
        decision_file=snakemake.input.decision,
        data_digests=snakemake.input.data,
        out_per_image=snakemake.output.per_image,
    )
