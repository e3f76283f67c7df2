"""``python -m paysync_dagster.cli``: the ``paysync`` command where the console script is not on the
PATH (the demo starts its child processes this way, with the same interpreter)."""

from paysync_dagster.cli import main

main()
