from faceseg.logutil import rule_log
from faceseg.steps.figures import plot_iou_comparison

with rule_log(snakemake.log[0]):
    plot_iou_comparison(list(snakemake.input), snakemake.output[0], dataset=snakemake.config["dataset"])
