from faceseg.logutil import rule_log
from faceseg.steps.pose import pose_estimates, write_pose_report

with rule_log(snakemake.log[0]):
    estimates, notes = pose_estimates(snakemake.params.evidence, snakemake.params.classifiers,
                                      snakemake.params.eval_images, snakemake.params.train_images)
    write_pose_report(estimates, notes, snakemake.output.md, snakemake.output.csv, snakemake.output.images,
                      snakemake.output.confusion, dataset_tag=snakemake.wildcards.dataset,
                      split_note=snakemake.params.split_note,
                      train_persons=snakemake.params.train_persons)
