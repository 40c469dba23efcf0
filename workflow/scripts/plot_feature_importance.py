from faceseg.logutil import rule_log
from faceseg.steps.figures import plot_feature_importance

with rule_log(snakemake.log[0]):
    plot_feature_importance(snakemake.input[0], snakemake.output[0])
