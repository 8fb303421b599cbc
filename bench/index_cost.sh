#!/bin/bash
# index_cost.sh PG_CONFIG [N] [REPEATS] -- what each index of bemi.changes costs the ingestion
# worker: bench/drain_quick.sh's drain of N changes (default 100000) with every index, then
# with each non-partial index dropped in turn, then with all partial ones dropped, REPEATS times
# (default 2). The difference to the first line is the index's worker CPU per stored change
# (docs/ingestion.md, "Indexes"). Installs nothing.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
P=$1; N=${2:-100000}; R=${3:-2}
run() { printf '%-40s ' "${1:-(every index)}"; DROP_INDEXES="$1" bash "$here/drain_quick.sh" "$P" "$N" 1000 2>&1 | tail -n 1; }
for ((rep = 1; rep <= R; rep++)); do
    run ""
    for ix in pkey capture_commit_position_seq_key history_idx committed_at_idx \
        context_idx effective_at_idx relation_order_idx transaction_idx; do
        run "$ix"
    done
    run "root_order_idx unstorable_idx fallback_idx previous_key_idx truncate_idx"
done
