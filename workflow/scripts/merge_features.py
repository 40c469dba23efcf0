from faceseg.logutil import rule_log
from faceseg.steps.extraction import merge_training_features

with rule_log(snakemake.log[0]):
    merge_training_features(list(snakemake.input), snakemake.output[0], order=snakemake.params.order)
