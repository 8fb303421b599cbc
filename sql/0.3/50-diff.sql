-- Diffs and transactions (docs/time-travel.md, "Diffs and transactions"): bemi.diff of two
-- images and of a stored change, and the view bemi.transactions, one row per stored transaction.

-- {"col": [old, new]} for every key whose value differs between the two objects. A key missing
-- on one side counts as JSON null there, so {"a": null} and {} do not differ. Values are
-- compared as jsonb (nested objects and arrays as a whole). Both arguments must be objects.
CREATE FUNCTION bemi.diff(before pg_catalog.jsonb, after pg_catalog.jsonb)
    RETURNS pg_catalog.jsonb
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    IF jsonb_typeof(before) <> 'object' OR jsonb_typeof(after) <> 'object' THEN
        RAISE EXCEPTION 'bemi.diff needs two JSON objects, got % and %', jsonb_typeof(before), jsonb_typeof(after)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass row images such as a change''s "before" and "after", or to_jsonb(row).';
    END IF;
    SELECT jsonb_object_agg(k, jsonb_build_array(coalesce(before -> k, 'null'), coalesce(after -> k, 'null')))
      INTO result
      FROM (SELECT jsonb_object_keys(before) UNION SELECT jsonb_object_keys(after)) AS keys(k)
     WHERE coalesce(before -> k, 'null') IS DISTINCT FROM coalesce(after -> k, 'null');
    RETURN coalesce(result, '{}');
END
$$;
COMMENT ON FUNCTION bemi.diff(pg_catalog.jsonb, pg_catalog.jsonb) IS
    '{"col": [old, new]} for the keys whose values differ (a key missing on one side counts as null)';

-- The diff of one stored change, from its own images: CREATE {} -> after, DELETE before -> {},
-- UPDATE before -> after. The record carries only what the WAL carries (docs/record-format.md):
-- - columns listed in unchanged_toast are left out of "after" and did not change: never in the diff;
-- - an UPDATE whose "before" is {} (REPLICA IDENTITY DEFAULT, key unchanged) has no old values:
--   the diff is NULL (unknown), never a guess; with a partial "before" (the old key columns,
--   when the key changed) only the columns it holds are compared. bemi.history() reconstructs
--   old values from the record's previous version.
-- - TRUNCATE and marker rows (operation UNKNOWN): {}.
CREATE FUNCTION bemi.diff(change bemi.changes)
    RETURNS pg_catalog.jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE change.operation
        WHEN 'CREATE' THEN bemi.diff('{}'::jsonb, change.after)
        WHEN 'DELETE' THEN bemi.diff(change.before, '{}'::jsonb)
        WHEN 'UPDATE' THEN
            CASE WHEN change.before = '{}'::jsonb AND change.after <> '{}'::jsonb THEN NULL
                 ELSE bemi.diff(change.before,
                                (SELECT coalesce(jsonb_object_agg(a.key, a.value), '{}'::jsonb)
                                   FROM jsonb_each(change.after) a
                                  WHERE change.before ? a.key))
                      - coalesce(change.unchanged_toast, '{}'::text[])
            END
        ELSE '{}'::jsonb
    END
$$;
COMMENT ON FUNCTION bemi.diff(bemi.changes) IS
    'The diff of a stored change: {"col": [old, new]}; NULL for an UPDATE whose record has no old values (REPLICA IDENTITY DEFAULT)';

-- One row per stored transaction: (capture, commit_position) identifies it. The row is built on
-- the transaction's first stored change (the one with the lowest seq), so that a filter on
-- context, committed_at, capture, transaction_id or actor is a filter on that change's
-- columns of bemi.changes and uses its indexes: "what did request X change" is
--     SELECT * FROM bemi.transactions WHERE context @> '{"request_id": "X"}';
-- (GIN index changes_context_idx). context is the first change's context; contexts lists every
-- distinct context of the transaction in order of first appearance (they differ at least by
-- "SQL" when it ran several statements). To find a transaction by the context of ANY of its
-- changes, not only its first, search bemi.changes and join:
--     SELECT t.* FROM bemi.transactions t
--      WHERE (t.capture, t.commit_position) IN (SELECT capture, commit_position FROM bemi.changes
--                                                WHERE context @> '{"request_id": "X"}');
-- Rows written into bemi.changes by hand (capture NULL) belong to no stored transaction.
CREATE VIEW bemi.transactions AS
SELECT f.capture,
       f.transaction_id,
       f.commit_position,
       f.committed_at,
       f.context,
       a.contexts,
       a.tables,
       a.changes,
       a.counts,
       f.actor
  FROM bemi.changes f
 CROSS JOIN LATERAL (
        SELECT (SELECT pg_catalog.jsonb_agg(x.context ORDER BY x.first_seq)
                  FROM (SELECT c.context, pg_catalog.min(c.seq) AS first_seq
                          FROM bemi.changes c
                         WHERE c.capture OPERATOR(pg_catalog.=) f.capture
                           AND c.commit_position OPERATOR(pg_catalog.=) f.commit_position
                         GROUP BY c.context) x) AS contexts,
               (SELECT pg_catalog.array_agg(DISTINCT c.schema OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) c."table"
                                            ORDER BY c.schema OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) c."table")
                  FROM bemi.changes c
                 WHERE c.capture OPERATOR(pg_catalog.=) f.capture
                   AND c.commit_position OPERATOR(pg_catalog.=) f.commit_position) AS tables,
               (SELECT pg_catalog.count(*)
                  FROM bemi.changes c
                 WHERE c.capture OPERATOR(pg_catalog.=) f.capture
                   AND c.commit_position OPERATOR(pg_catalog.=) f.commit_position) AS changes,
               (SELECT pg_catalog.jsonb_object_agg(t.name, t.ops)
                  FROM (SELECT o.name, pg_catalog.jsonb_object_agg(o.operation, o.n) AS ops
                          FROM (SELECT c.schema OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) c."table" AS name,
                                       c.operation, pg_catalog.count(*) AS n
                                  FROM bemi.changes c
                                 WHERE c.capture OPERATOR(pg_catalog.=) f.capture
                                   AND c.commit_position OPERATOR(pg_catalog.=) f.commit_position
                                 GROUP BY 1, 2) o
                         GROUP BY o.name) t) AS counts
       ) a
 WHERE f.capture IS NOT NULL
   AND NOT EXISTS (SELECT FROM bemi.changes p
                    WHERE p.capture OPERATOR(pg_catalog.=) f.capture
                      AND p.commit_position OPERATOR(pg_catalog.=) f.commit_position
                      AND p.seq OPERATOR(pg_catalog.<) f.seq);
COMMENT ON VIEW bemi.transactions IS
    'One row per stored transaction: its first change''s context (contexts: all), tables, counts per table and operation';
COMMENT ON COLUMN bemi.transactions.context IS
    'Context of the transaction''s first stored change; filter with @> (uses the GIN index on bemi.changes.context)';
COMMENT ON COLUMN bemi.transactions.contexts IS
    'Every distinct context of the transaction''s changes, in order of first appearance';
COMMENT ON COLUMN bemi.transactions.tables IS 'schema.table of every table the transaction changed (as recorded: leaf partitions)';
COMMENT ON COLUMN bemi.transactions.changes IS 'Number of stored changes';
COMMENT ON COLUMN bemi.transactions.counts IS 'Changes per table and operation: {"public.todo": {"CREATE": 2}}';
COMMENT ON COLUMN bemi.transactions.actor IS 'Actor of the transaction''s first stored change';
REVOKE ALL ON TABLE bemi.transactions FROM PUBLIC;
GRANT SELECT ON TABLE bemi.transactions TO bemi_reader;
