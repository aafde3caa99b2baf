# epiclock: DNA-methylation arrays -> QC -> normalised betas -> clock ages -> condition deltas -> report.
from snakemake.utils import min_version

min_version("8.20")


# The demo's config serves a run given no --configfile, and only that: a study's own config gets the
# schema's defaults for every key it leaves out, never the demo's values.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/manifests.smk"
include: "rules/import.smk"
include: "rules/qc.smk"
include: "rules/merge.smk"
include: "rules/clocks.smk"
include: "rules/composition.smk"
include: "rules/deltas.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
