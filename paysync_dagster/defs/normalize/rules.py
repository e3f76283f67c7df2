"""The mapping rules in force, read once when the definitions load.

A broken file stops the code location here, with one message naming the file, the line and the key,
before any run can start.
"""

from paysync_dagster.lib.mapping import load_mapping, mapping_fingerprint

MAPPING = load_mapping()
MAPPING_FINGERPRINT = mapping_fingerprint(MAPPING)
