from faceseg.logutil import rule_log
from faceseg.steps.validation import choose_decision

with rule_log(snakemake.log[0]):
    choose_decision(
        kind=snakemake.wildcards.model,
        score_files=list(snakemake.input),
        dataset=snakemake.config["dataset"],
        configured=snakemake.params.decision,
        out_path=snakemake.output[0],
        split=snakemake.params.split,
        stride=snakemake.params.stride,
    )
