from faceseg.logutil import rule_log
from faceseg.steps.validation import score_shard

with rule_log(snakemake.log[0]):
    score_shard(
        proba_store=snakemake.input.probabilities,
        images=snakemake.params.images,
        dataset=snakemake.config["dataset"],
        configured=snakemake.params.decision,
        prior_grid=snakemake.params.prior_grid,
        sigma_grid=snakemake.params.sigma_grid,
        out_path=snakemake.output[0],
    )
