from faceseg.logutil import rule_log
from faceseg.steps.pose import own_pose_records
from faceseg.summary import write_pose_tables

with rule_log(snakemake.log[0]):
    runs = dict(snakemake.params.runs)
    for name, run in snakemake.params.own_pose_runs.items():
        runs[name] = own_pose_records(run["evidence"], run["models"], snakemake.params.images,
                                      snakemake.params.stride, name)
    write_pose_tables(runs, snakemake.output.md, snakemake.output.csv,
                      dataset_tag=snakemake.wildcards.dataset, class_names=snakemake.params.class_names)
