from faceseg.logutil import rule_log
from faceseg.steps import segment_test_image

with rule_log(snakemake.log[0]):
    segment_test_image(
        model_path=snakemake.input.model,
        dataset=snakemake.config["dataset"],
        image_id=snakemake.wildcards.image,
        image_path=snakemake.input.image,
        label_path=snakemake.input.labels or None,
        landmark_path=snakemake.input.landmarks or None,
        n_landmarks=snakemake.params.n_landmarks,
        out_labels=snakemake.output.labels,
        out_colour=snakemake.output.colour,
        out_confusion=snakemake.output.confusion,
        tile_size=snakemake.params.tile_size,
        stride=snakemake.params.stride,
        threads=snakemake.threads,
    )
