from faceseg.logutil import rule_log
from faceseg.steps.pose import train_pose_classifier

with rule_log(snakemake.log[0]):
    train_pose_classifier(list(snakemake.input), snakemake.output[0], threads=snakemake.threads)
