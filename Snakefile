# faceseg: per-pixel face parsing, from dataset images to per-class IoU reports.
# The rules live in workflow/rules/, the logic in src/faceseg/.
from snakemake.utils import min_version

from faceseg.config import resolve_config

min_version("9.0")


configfile: "config.yaml"


# Schema validation (src/faceseg/config.schema.yaml), every model's defaults, the dataset's settings.
resolve_config(config)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/pose.smk"


rule all:
    default_target: True
    input:
        all_reports(),
        all_summaries(),
        all_figures(),
