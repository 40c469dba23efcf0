from faceseg.logutil import rule_log
from faceseg.steps.segmentation import segment_shard

with rule_log(snakemake.log[0]):
    segment_shard(
        model_path=snakemake.input.model,
        dataset=snakemake.config["dataset"],
        images=snakemake.params.images,
        out_store=snakemake.output[0],
        n_landmarks=snakemake.params.n_landmarks,
        tile_size=snakemake.params.tile_size,
        stride=snakemake.params.stride,
        threads=snakemake.threads,
        provenance=snakemake.params.provenance,
    )
