from faceseg.logutil import rule_log
from faceseg.steps.validation import choose_decision

with rule_log(snakemake.log[0]):
    choose_decision(
        kind=snakemake.wildcards.model,
        proba_stores=list(snakemake.input.probabilities),
        images=snakemake.params.images,
        dataset=snakemake.config["dataset"],
        configured=snakemake.params.decision,
        prior_grid=snakemake.params.prior_grid,
        sigma_grid=snakemake.params.sigma_grid,
        out_path=snakemake.output[0],
        split=snakemake.params.split,
        stride=snakemake.params.stride,
    )
