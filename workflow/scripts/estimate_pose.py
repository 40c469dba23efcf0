from faceseg.logutil import rule_log
from faceseg.steps.pose import estimate_pose_shard

with rule_log(snakemake.log[0]):
    estimate_pose_shard(
        model_dir=snakemake.input.models,
        images=snakemake.params.images,
        out_file=snakemake.output[0],
        n_landmarks=snakemake.params.n_landmarks,
        tile_size=snakemake.params.tile_size,
        stride=snakemake.params.stride,
        threads=snakemake.threads,
    )
