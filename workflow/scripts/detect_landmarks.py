from faceseg.logutil import rule_log
from faceseg.steps.landmarks import detect_landmarks_shard

with rule_log(snakemake.log[0]):
    detect_landmarks_shard(snakemake.params.images, snakemake.output[0], **snakemake.params.detection)
