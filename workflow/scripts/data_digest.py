from faceseg.data_digest import shard_digests
from faceseg.logutil import rule_log

with rule_log(snakemake.log[0]):
    shard_digests(
        snakemake.params.images,
        snakemake.params.root,
        snakemake.config["dataset"],
        snakemake.output[0],
        accept_changed=snakemake.params.accept_changed,
    )
