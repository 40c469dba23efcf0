from faceseg.logutil import rule_log
from faceseg.steps.training import train_model

with rule_log(snakemake.log[0]):
    train_model(
        kind=snakemake.wildcards.model,
        store=snakemake.input.store,
        out_model=snakemake.output[0],
        params=snakemake.params.model,
        threads=snakemake.threads,
        atlas_path=snakemake.input.atlas or None,
        info={"dataset": snakemake.config["dataset"], "experiment": snakemake.wildcards.experiment},
        data_digests=snakemake.input.data,
        provenance=snakemake.params.provenance,
    )
