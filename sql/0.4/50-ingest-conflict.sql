-- The SQL path of a batch (bemi._ingest and its record-by-record pass bemi._ingest_by_record,
-- sql/0.3/10-trail.sql) names the identity in ON CONFLICT (capture, commit_position, seq),
-- which the partitioned bemi.changes no longer has as an index of its own: each partition has
-- it (20-layout.sql). ON CONFLICT DO NOTHING without a target checks every unique index of the
-- partition the row goes to: that identity, and the primary key id, which a new row's fresh
-- identity value never matches. Nothing else in them changes, so they are rewritten from their
-- own definitions, checking that exactly the expected clauses were replaced, rather than copied
-- here whole.
DO $$
DECLARE
    fn record;
    old_text pg_catalog.text;
    new_text pg_catalog.text;
    replaced pg_catalog.int4;
BEGIN
    FOR fn IN SELECT * FROM (VALUES
                  ('bemi._ingest(pg_catalog.name, pg_catalog.text, pg_catalog.pg_lsn, pg_catalog.uuid)'::pg_catalog.regprocedure, 1),
                  ('bemi._ingest_by_record(pg_catalog.name, pg_catalog.pg_lsn, pg_catalog.pg_lsn, pg_catalog.uuid)'::pg_catalog.regprocedure, 2))
                  AS f(oid, expected) LOOP
        old_text := pg_catalog.pg_get_functiondef(fn.oid);
        new_text := pg_catalog.replace(old_text, 'ON CONFLICT (capture, commit_position, seq) DO NOTHING',
                                       'ON CONFLICT DO NOTHING');
        replaced := (pg_catalog.length(old_text) OPERATOR(pg_catalog.-) pg_catalog.length(new_text))
                    OPERATOR(pg_catalog./) pg_catalog.length(' (capture, commit_position, seq)');
        IF replaced OPERATOR(pg_catalog.<>) fn.expected THEN
            RAISE EXCEPTION 'bemi 0.4: % has % ON CONFLICT clauses on the identity, expected %', fn.oid, replaced, fn.expected;
        END IF;
        EXECUTE new_text;
    END LOOP;
END
$$;
