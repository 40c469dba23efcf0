from faceseg.logutil import rule_log
from faceseg.summary import write_summary

with rule_log(snakemake.log[0]):
    write_summary(list(snakemake.input.metrics), snakemake.output.md, snakemake.output.csv,
                  dataset_tag=snakemake.wildcards.dataset, descriptions=snakemake.params.descriptions,
                  protocols=snakemake.params.protocols, reference=snakemake.params.reference,
                  metric=snakemake.params.metric, out_paired=snakemake.output.paired)
