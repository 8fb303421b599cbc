-- TOASTed values under each replica identity, what `before` holds, and primary_key
-- rendering (docs/record-format.md: "before and after", "TOAST", "primary_key").
\set VERBOSITY terse
SELECT 'init' FROM pg_create_logical_replication_slot('bemi_toast', 'bemi');

-- Decoded records land here (temporary tables are never decoded themselves).
-- got: the latest fetch; seen: everything fetched so far.
CREATE TEMP TABLE got (n bigint, d jsonb);
CREATE TEMP TABLE seen (d jsonb);
CREATE FUNCTION pg_temp.fetch() RETURNS bigint LANGUAGE sql AS $$
    DELETE FROM got;
    INSERT INTO got
        SELECT o, data::jsonb
        FROM pg_logical_slot_get_changes('bemi_toast', NULL, NULL) WITH ORDINALITY AS c(lsn, xid, data, o);
    INSERT INTO seen SELECT d FROM got;
    SELECT count(*) FROM got;
$$;
-- A record without its volatile keys.
CREATE FUNCTION pg_temp.stable(r jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT r - '{transaction_id,position,commit_position,committed_at}'::text[]
$$;

-- ~64 kB of incompressible text, different for every seed.
CREATE FUNCTION big(seed int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(md5((seed * 100000 + i)::text), '') FROM generate_series(1, 2000) i
$$;
CREATE FUNCTION big_json(seed int) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_object_agg('k' || i, md5((seed * 100000 + i)::text)) FROM generate_series(1, 2000) i
$$;
CREATE FUNCTION big_bytes(seed int) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT decode(big(seed), 'hex')
$$;

--------------------------------------------------------------------------------------------
-- REPLICA IDENTITY FULL, default (EXTENDED) storage: the old row carries the TOASTed value.
CREATE TABLE toast_full (id int PRIMARY KEY, note text, big text);
ALTER TABLE toast_full REPLICA IDENTITY FULL;
INSERT INTO toast_full VALUES (1, 'a', big(1));
-- really stored out of line, uncompressed
SELECT pg_column_size(big) = octet_length(big) AS uncompressed, octet_length(big) AS bytes FROM toast_full;
SELECT reltoastrelid::regclass AS toast_rel FROM pg_class WHERE oid = 'toast_full'::regclass \gset
SELECT count(DISTINCT chunk_id) AS out_of_line_values FROM :toast_rel;
CREATE TEMP TABLE snap AS SELECT * FROM toast_full;  -- row image before each change
SELECT pg_temp.fetch();
SELECT d->>'operation' AS op, d->>'primary_key' AS pk, d->'before' = '{}' AS before_empty,
       d->'after' = (SELECT to_jsonb(t) FROM toast_full t) AS after_exact,
       md5(d->'after'->>'big') = md5(big(1)) AS big_md5, d ? 'unchanged_toast' AS has_unchanged
FROM got ORDER BY n;

-- UPDATE of another column: after has the real value, before the whole old row.
UPDATE toast_full SET note = 'b' WHERE id = 1;
SELECT pg_temp.fetch();
SELECT d->>'operation' AS op, d->>'primary_key' AS pk,
       d->'before' = (SELECT to_jsonb(s) FROM snap s) AS before_exact,
       d->'after' = (SELECT to_jsonb(t) FROM toast_full t) AS after_exact,
       md5(d->'after'->>'big') = (SELECT md5(big) FROM toast_full) AS after_big_md5,
       d->'after'->>'note' AS note, d ? 'unchanged_toast' AS has_unchanged,
       d ? 'previous_primary_key' AS has_prev
FROM got ORDER BY n;
TRUNCATE snap; INSERT INTO snap SELECT * FROM toast_full;

-- UPDATE of the TOASTed value itself.
UPDATE toast_full SET big = big(2) WHERE id = 1;
SELECT pg_temp.fetch();
SELECT d->>'operation' AS op,
       md5(d->'before'->>'big') = md5(big(1)) AS before_old_big,
       md5(d->'after'->>'big') = md5(big(2)) AS after_new_big,
       d->'before' = (SELECT to_jsonb(s) FROM snap s) AS before_exact,
       d->'after' = (SELECT to_jsonb(t) FROM toast_full t) AS after_exact,
       d ? 'unchanged_toast' AS has_unchanged
FROM got ORDER BY n;
TRUNCATE snap; INSERT INTO snap SELECT * FROM toast_full;

-- DELETE: the whole old row, TOASTed value included.
DELETE FROM toast_full WHERE id = 1;
SELECT pg_temp.fetch();
SELECT d->>'operation' AS op, d->>'primary_key' AS pk,
       d->'before' = (SELECT to_jsonb(s) FROM snap s) AS before_exact,
       md5(d->'before'->>'big') = md5(big(2)) AS before_big_md5, d->'after' AS after
FROM got ORDER BY n;

--------------------------------------------------------------------------------------------
-- REPLICA IDENTITY DEFAULT: unchanged TOASTed values are not in the WAL. Text stored
-- EXTERNAL, jsonb and bytea with default storage (incompressible, so out of line too).
CREATE TABLE toast_default (id int PRIMARY KEY, note text, big text, doc jsonb, bin bytea, n int);
ALTER TABLE toast_default ALTER big SET STORAGE EXTERNAL;
INSERT INTO toast_default VALUES (1, 'a', big(3), big_json(3), big_bytes(3), 10),
                                 (2, 'a', big(4), big_json(4), big_bytes(4), 20);
SELECT id, pg_column_size(big) = octet_length(big) AS big_uncompressed,
       pg_column_size(bin) = octet_length(bin) AS bin_uncompressed,
       pg_column_compression(doc) IS NULL AS doc_uncompressed
FROM toast_default t ORDER BY id;
SELECT reltoastrelid::regclass AS toast_rel FROM pg_class WHERE oid = 'toast_default'::regclass \gset
SELECT count(DISTINCT chunk_id) AS out_of_line_values FROM :toast_rel;
SELECT pg_temp.fetch();
-- INSERT: every value exact, TOASTed text, jsonb and bytea included.
SELECT d->>'primary_key' AS pk, d->>'operation' AS op,
       d->'after' = (SELECT to_jsonb(t) FROM toast_default t WHERE t.id = (d->>'primary_key')::int) AS after_exact,
       md5(d->'after'->>'big') = md5(big((d->>'primary_key')::int + 2)) AS big_md5,
       d->'after'->'doc' = big_json((d->>'primary_key')::int + 2) AS doc_exact,
       d->'after'->>'bin' = '\x' || encode(big_bytes((d->>'primary_key')::int + 2), 'hex') AS bin_exact,
       d->'before' AS before, d ? 'unchanged_toast' AS has_unchanged
FROM got ORDER BY n;
-- jsonb_populate_record gives the row back
SELECT count(*) AS rows_back
FROM got, toast_default t
WHERE t.id = (d->>'primary_key')::int AND jsonb_populate_record(NULL::toast_default, d->'after') = t;

-- UPDATE of another column: the unchanged TOASTed columns are left out of after and listed,
-- never reported as null.
UPDATE toast_default SET note = 'b' WHERE id = 1;
SELECT pg_temp.fetch();
SELECT pg_temp.stable(d) FROM got ORDER BY n;
SELECT d->'after' ? 'big' OR d->'after' ? 'doc' OR d->'after' ? 'bin' AS any_toast_key,
       (SELECT count(*) FROM jsonb_each(d->'after') e WHERE e.value = 'null') AS nulls_in_after
FROM got ORDER BY n;

-- UPDATE of one TOASTed column: it is in after with its new value, the others stay listed.
UPDATE toast_default SET big = big(5) WHERE id = 1;
SELECT pg_temp.fetch();
SELECT d->>'operation' AS op, d->'before' AS before, md5(d->'after'->>'big') = md5(big(5)) AS after_new_big,
       d->'unchanged_toast' AS unchanged_toast,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(d->'after') k) AS after_keys
FROM got ORDER BY n;

-- UPDATE of all TOASTed columns in one statement (nothing left out), and of the jsonb and
-- bytea alone (only big left out).
UPDATE toast_default SET big = big(6), doc = big_json(6), bin = big_bytes(6), n = n + 1 WHERE id = 1;
UPDATE toast_default SET doc = big_json(7), bin = big_bytes(7) WHERE id = 2;
SELECT pg_temp.fetch();
SELECT d->>'primary_key' AS pk, d ? 'unchanged_toast' AS has_unchanged,
       d->'unchanged_toast' AS unchanged_toast,
       (d->'after') - '{big,doc,bin}'::text[] AS small_columns,
       md5(d->'after'->>'big') = md5(big(6)) AS big_ok,
       d->'after'->'doc' = big_json((d->>'primary_key')::int + 5) AS doc_ok,
       d->'after'->>'bin' = '\x' || encode(big_bytes((d->>'primary_key')::int + 5), 'hex') AS bin_ok
FROM got ORDER BY n;

-- A TOASTed value set to NULL, then to a small inline value, then to itself (the server
-- keeps the same out-of-line value: unchanged, listed).
UPDATE toast_default SET big = NULL WHERE id = 2;
UPDATE toast_default SET big = 'small' WHERE id = 2;
UPDATE toast_default SET bin = bin WHERE id = 2;
SELECT pg_temp.fetch();
SELECT pg_temp.stable(d) - 'after' AS rec, (d->'after') - '{doc,bin}'::text[] AS after_small,
       d->'after' ? 'doc' AS has_doc, d->'after' ? 'bin' AS has_bin
FROM got ORDER BY n;

-- UPDATE changing the key: before holds just the old key, after still lacks the TOASTed values.
UPDATE toast_default SET id = 3 WHERE id = 1;
SELECT pg_temp.fetch();
SELECT pg_temp.stable(d) FROM got ORDER BY n;

-- DELETE: before holds only the key.
DELETE FROM toast_default;
SELECT pg_temp.fetch();
SELECT pg_temp.stable(d) FROM got ORDER BY n;

-- A row inserted and updated in one transaction: the UPDATE did not change the value.
BEGIN;
INSERT INTO toast_default VALUES (4, 'a', big(8), '{}', '\x00', 40);
UPDATE toast_default SET note = 'b' WHERE id = 4;
COMMIT;
SELECT pg_temp.fetch();
SELECT d->>'operation' AS op, d->>'seq' AS seq, md5(d->'after'->>'big') = md5(big(8)) AS big_ok,
       (d->'after') - 'big' AS after_rest, d->'unchanged_toast' AS unchanged_toast
FROM got ORDER BY n;

--------------------------------------------------------------------------------------------
-- What `before` holds, and primary_key, under each replica identity.
CREATE TABLE ri_default (id int PRIMARY KEY, a text, b int);
INSERT INTO ri_default VALUES (1, 'x', 1);
UPDATE ri_default SET a = 'y' WHERE id = 1;         -- non-key UPDATE
UPDATE ri_default SET id = 10, b = 2 WHERE id = 1;  -- key-changing UPDATE
DELETE FROM ri_default;
SELECT pg_temp.fetch();
SELECT pg_temp.stable(d) FROM got ORDER BY n;

CREATE TABLE ri_nothing (id int PRIMARY KEY, a text);
ALTER TABLE ri_nothing REPLICA IDENTITY NOTHING;
INSERT INTO ri_nothing VALUES (1, 'x');
UPDATE ri_nothing SET a = 'y';
UPDATE ri_nothing SET id = 2;
DELETE FROM ri_nothing;
SELECT pg_temp.fetch();
SELECT pg_temp.stable(d) FROM got ORDER BY n;

-- DEFAULT without any primary key.
CREATE TABLE no_pk (a int, b text);
INSERT INTO no_pk VALUES (1, 'x');
UPDATE no_pk SET b = 'y';
DELETE FROM no_pk;
SELECT pg_temp.fetch();
SELECT pg_temp.stable(d) FROM got ORDER BY n;

-- USING INDEX on a unique index over a column not named id: that column is the key.
CREATE TABLE ri_index (id int PRIMARY KEY, email text NOT NULL, v int);
CREATE UNIQUE INDEX ri_index_email ON ri_index (email);
ALTER TABLE ri_index REPLICA IDENTITY USING INDEX ri_index_email;
INSERT INTO ri_index VALUES (1, 'a@example.com', 1);
UPDATE ri_index SET v = 2;
UPDATE ri_index SET email = 'b@example.com';
UPDATE ri_index SET id = 2;
DELETE FROM ri_index;
SELECT pg_temp.fetch();
SELECT pg_temp.stable(d) FROM got ORDER BY n;

-- Composite primary key: a compact JSON array, as a string, in index order.
CREATE TABLE comp_pk (b text, v int, a int, PRIMARY KEY (a, b));
INSERT INTO comp_pk VALUES ('a', 0, 1), ('x"y\z', 0, 2);
UPDATE comp_pk SET v = 1 WHERE a = 1;
UPDATE comp_pk SET b = 'c' WHERE a = 1;
DELETE FROM comp_pk WHERE a = 2;
SELECT pg_temp.fetch();
SELECT d->>'operation' AS op, d->'primary_key' AS pk, (d->>'primary_key')::jsonb AS pk_parsed,
       d->'previous_primary_key' AS prev, d->'before' AS before
FROM got ORDER BY n;

-- A primary key column not named id: its text, unquoted.
CREATE TABLE codes (code text PRIMARY KEY, v int);
INSERT INTO codes VALUES ('abc', 1), ('he said "hi"', 2);
UPDATE codes SET code = 'xyz' WHERE code = 'abc';
DELETE FROM codes WHERE v = 2;
SELECT pg_temp.fetch();
SELECT d->>'operation' AS op, d->'primary_key' AS pk, d->>'primary_key' AS pk_text,
       d->'previous_primary_key' AS prev, d->'before' AS before
FROM got ORDER BY n;

-- The identity in force when the change was made decides, even when decoded later.
CREATE TABLE ri_switch (id int PRIMARY KEY, a text);
INSERT INTO ri_switch VALUES (1, 'x');
UPDATE ri_switch SET a = 'y';
ALTER TABLE ri_switch REPLICA IDENTITY FULL;
UPDATE ri_switch SET a = 'z';
ALTER TABLE ri_switch REPLICA IDENTITY NOTHING;
UPDATE ri_switch SET a = 'w';
DELETE FROM ri_switch;
SELECT pg_temp.fetch();
SELECT d->>'operation' AS op, d->'primary_key' AS pk, d->'before' AS before, d->'after' AS after
FROM got ORDER BY n;

-- Across all of the above: the only null value ever recorded is the real one (big = NULL).
SELECT count(*) AS records, count(*) FILTER (WHERE d ? 'unchanged_toast') AS with_unchanged_toast
FROM seen;
SELECT d->>'table' AS tab, d->>'operation' AS op, side, e.key
FROM seen, LATERAL (VALUES ('before', d->'before'), ('after', d->'after')) AS s(side, img),
     jsonb_each(img) e
WHERE e.value = 'null';

--------------------------------------------------------------------------------------------
-- A primary key value that is itself stored out of line (2.5 kB, EXTERNAL): a non-key UPDATE
-- under DEFAULT logs the old key (the server does so when the key is external), so the key
-- is in the WAL: primary_key is the key, and it did not change (no previous_primary_key).
CREATE TABLE toast_key (k text PRIMARY KEY, v int);
ALTER TABLE toast_key ALTER k SET STORAGE EXTERNAL;
INSERT INTO toast_key SELECT string_agg(md5(i::text), ''), 1 FROM generate_series(1, 78) i;
SELECT octet_length(k) AS key_bytes FROM toast_key;
SELECT reltoastrelid::regclass AS toast_rel FROM pg_class WHERE oid = 'toast_key'::regclass \gset
SELECT count(DISTINCT chunk_id) AS out_of_line_values FROM :toast_rel;
UPDATE toast_key SET v = 2;
DELETE FROM toast_key;
SELECT pg_temp.fetch();
SELECT string_agg(md5(i::text), '') AS key FROM generate_series(1, 78) i \gset
SELECT d->>'operation' AS op, d->>'primary_key' = :'key' AS pk_is_key,
       d ? 'previous_primary_key' AS has_prev, d->'after'->>'k' = :'key' AS after_k,
       d->'after'->'v' AS v, d ? 'unchanged_toast' AS has_unchanged
FROM got ORDER BY n;
-- The same under REPLICA IDENTITY FULL.
ALTER TABLE toast_key REPLICA IDENTITY FULL;
INSERT INTO toast_key VALUES (:'key', 1);
UPDATE toast_key SET v = 2;
DELETE FROM toast_key;
SELECT pg_temp.fetch();
SELECT d->>'operation' AS op, d->>'primary_key' = :'key' AS pk_is_key,
       d ? 'previous_primary_key' AS has_prev, d->'after'->>'k' = :'key' AS after_k,
       d->'after'->'v' AS v, d ? 'unchanged_toast' AS has_unchanged
FROM got ORDER BY n;

SELECT 'stop' FROM pg_drop_replication_slot('bemi_toast');
