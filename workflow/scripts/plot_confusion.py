from faceseg.logutil import rule_log
from faceseg.steps.figures import plot_confusion

with rule_log(snakemake.log[0]):
    plot_confusion(snakemake.input[0], snakemake.output[0])
