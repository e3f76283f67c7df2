"""Daily partitions by business date, in the merchant's time zone.

``end_offset=1`` keeps today's partition open, because the near-real-time sensor posts payments for
the current business day as they arrive.
"""

import dagster as dg

from paysync_dagster.lib.settings import merchant_timezone, partitions_start

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=partitions_start(),
    timezone=merchant_timezone(),
    end_offset=1,
)
