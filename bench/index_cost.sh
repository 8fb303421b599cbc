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
    for ix in changes_pkey changes_capture_commit_position_seq_key changes_history_idx changes_committed_at_idx \
        changes_context_idx changes_effective_at_idx changes_relation_order_idx changes_transaction_idx; do
        run "$ix"
    done
    run "changes_root_order_idx changes_unstorable_idx changes_fallback_idx changes_previous_key_idx changes_truncate_idx"
done
