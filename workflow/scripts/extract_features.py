from faceseg.logutil import rule_log
from faceseg.steps.extraction import extract_features_shard

with rule_log(snakemake.log[0]):
    extract_features_shard(
        dataset=snakemake.config["dataset"],
        images=snakemake.params.images,
        out_store=snakemake.output[0],
        feature_config=snakemake.params.features,
        sampling=snakemake.params.sampling,
        n_landmarks=snakemake.params.n_landmarks,
        atlas=snakemake.input.atlas or None,
        split=snakemake.wildcards.split,
        framing=snakemake.params.framing,
    )
