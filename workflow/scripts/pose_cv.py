from faceseg.logutil import rule_log
from faceseg.steps.pose import pose_cv_estimates, write_pose_cv_report

with rule_log(snakemake.log[0]):
    estimates, notes = pose_cv_estimates(snakemake.params.runs)
    write_pose_cv_report(estimates, notes, snakemake.output.md, snakemake.output.csv,
                         dataset_tag=snakemake.wildcards.dataset, stride=snakemake.params.stride)
