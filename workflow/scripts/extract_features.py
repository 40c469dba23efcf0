from faceseg.logutil import rule_log
from faceseg.steps import extract_training_features

with rule_log(snakemake.log[0]):
    extract_training_features(
        dataset=snakemake.config["dataset"],
        image_id=snakemake.wildcards.image,
        image_path=snakemake.input.image,
        label_path=snakemake.input.labels or None,
        landmark_path=snakemake.input.landmarks or None,
        out_store=snakemake.output[0],
        feature_config=snakemake.params.features,
        sampling=snakemake.params.sampling,
        n_landmarks=snakemake.params.n_landmarks,
        atlas=snakemake.input.atlas or None,
        split=snakemake.wildcards.split,
    )
