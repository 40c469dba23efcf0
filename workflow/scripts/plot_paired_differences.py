from faceseg.logutil import rule_log
from faceseg.plots import plot_paired_differences

with rule_log(snakemake.log[0]):
    plot_paired_differences(snakemake.input[0], snakemake.output[0], title=snakemake.wildcards.dataset)
