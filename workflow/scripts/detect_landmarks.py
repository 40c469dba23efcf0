from faceseg.logutil import rule_log
from faceseg.steps import detect_landmarks

with rule_log(snakemake.log[0]):
    detect_landmarks(snakemake.input.image, snakemake.output[0], **snakemake.params.detection)
