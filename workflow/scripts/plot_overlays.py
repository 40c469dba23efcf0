from faceseg.logutil import rule_log
from faceseg.steps.figures import plot_overlays

with rule_log(snakemake.log[0]):
    wc = snakemake.wildcards
    plot_overlays(
        snakemake.params.confusion,
        predicted_labels=snakemake.params.predicted,
        images=snakemake.params.images,
        out_dir=snakemake.output[0],
        dataset=snakemake.config["dataset"],
        n=snakemake.params.n,
        title=f"{wc.dataset} / {wc.experiment} / {wc.model}",
    )
