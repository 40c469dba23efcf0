from faceseg.download import FASSEG_ARCHIVES, download_fasseg
from faceseg.logutil import rule_log

with rule_log(snakemake.log[0]):
    download_fasseg(snakemake.output[0], snakemake.params.urls or FASSEG_ARCHIVES)
