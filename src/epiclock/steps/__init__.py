"""One module per rule: ``steps.<rule>.<rule>`` reads the rule's inputs, calls its stage, writes its outputs
(``run`` runs a step from its Snakemake script)."""
