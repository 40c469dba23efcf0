from faceseg.download import download_fasseg
from faceseg.logutil import rule_log

with rule_log(snakemake.log[0]):
    download_fasseg(snakemake.output[0])
