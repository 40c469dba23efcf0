from faceseg.logutil import rule_log
from faceseg.steps.segmentation import decide_shard

with rule_log(snakemake.log[0]):
    decide_shard(
        proba_store=snakemake.input.probabilities,
        decision_file=snakemake.input.decision,
        dataset=snakemake.config["dataset"],
        images=snakemake.params.images,
        out_dir=snakemake.output[0],
    )
