from pathlib import Path

from faceseg.logutil import rule_log
from faceseg.steps import plot_overlays

with rule_log(snakemake.log[0]):
    wc = snakemake.wildcards
    plot_overlays(
        list(snakemake.input.confusion),
        prediction_dir=Path(f"results/predictions/{wc.dataset}/{wc.experiment}/{wc.model}/labels"),
        images=snakemake.params.images,
        out_dir=snakemake.output[0],
        dataset=snakemake.config["dataset"],
        n=snakemake.params.n,
        title=f"{wc.dataset} / {wc.experiment} / {wc.model}",
    )
