// The partitions of bemi.changes a batch needs, created before the batch is stored
// (docs/ingestion.md, "Partitions"): bemi.changes is partitioned by effective_at (0.4), and a
// row whose partition is missing must never land in the default partition.
#pragma once

#include "pg/postgres_headers.hpp"

namespace bemi_pg {

// What the worker remembers of the last bemi._ensure_partitions: the range covered without a
// hole around the time of the call, and when it was made.
struct PartitionCover {
    bool known;
    TimestampTz from;
    TimestampTz to;
    TimestampTz checked_at;
};

// In a transaction of its own (never the one that stores the batch: creating a partition locks
// bemi.changes ACCESS EXCLUSIVE until commit), with an active snapshot and SPI connected.
// Unless every one of the batch's commit times (decoded_batch_commit_times) lies in the range
// cover remembers (checked less than 10 s ago), calls bemi._ensure_partitions with them under
// a 1 s lock_timeout. A failure (a lock not granted) is raised only when the batch needs a
// partition cover does not know; otherwise the next turn tries again. Does nothing while
// bemi.changes is not partitioned (0.3's SQL).
void ensure_partitions(const TimestampTz *commit_times, int count, PartitionCover *cover);

} // namespace bemi_pg
