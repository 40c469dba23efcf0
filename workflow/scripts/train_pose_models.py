from faceseg.logutil import rule_log
from faceseg.steps.pose import train_pose_models

with rule_log(snakemake.log[0]):
    train_pose_models(
        kind=snakemake.wildcards.model,
        shard_stores=list(snakemake.input),
        images=snakemake.params.images,
        out_dir=snakemake.output[0],
        params=snakemake.params.model,
        threads=snakemake.threads,
        info={"dataset": snakemake.config["dataset"], "experiment": snakemake.wildcards.experiment,
              "fold": snakemake.wildcards.fold},
    )
