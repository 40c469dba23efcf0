from faceseg.logutil import rule_log
from faceseg.summary import write_pose_tables

with rule_log(snakemake.log[0]):
    write_pose_tables(snakemake.params.runs, snakemake.output.md, snakemake.output.csv,
                      dataset_tag=snakemake.wildcards.dataset, class_names=snakemake.params.class_names)
