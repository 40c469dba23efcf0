from faceseg.logutil import rule_log
from faceseg.steps.label_atlas import build_atlas

with rule_log(snakemake.log[0]):
    build_atlas(
        dataset=snakemake.config["dataset"],
        split=snakemake.params.split,
        images=snakemake.params.images,
        out_path=snakemake.output[0],
        n_landmarks=snakemake.params.n_landmarks,
    )
