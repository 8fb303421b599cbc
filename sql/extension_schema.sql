-- The extension's schema: bemi.changes, the capture configuration (exclusions, the REPLICA
-- IDENTITY FULL helper) and who may do what (sql/bemi--0.1--0.2.sql: changes, capture configuration,
-- 60-privileges.sql). Independent of the ingestion worker: nothing here reads rows the worker
-- stores, so it passes with or without shared_preload_libraries = 'bemi'.
\set regress_db :DBNAME
-- bemi_reader is cluster-wide: drop it at the end only if this test created it.
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bemi_reader') AS creates_reader \gset
CREATE EXTENSION bemi;

-- bemi.changes, column by column.
SELECT column_name, data_type, is_nullable, column_default, is_identity, identity_generation
  FROM information_schema.columns
 WHERE table_schema = 'bemi' AND table_name = 'changes'
 ORDER BY ordinal_position;
SELECT conname, contype, pg_get_constraintdef(oid) AS definition
  FROM pg_constraint WHERE conrelid = 'bemi.changes'::regclass ORDER BY conname;
SELECT indexname, indexdef FROM pg_indexes
 WHERE schemaname = 'bemi' AND tablename = 'changes' ORDER BY indexname;
-- Since 0.4 bemi.changes is partitioned and each partition has the indexes and unique keys
-- (bemi._partition_indexes; docs/ingestion.md, "Partitions"): the default partition's.
SELECT conname, contype, pg_get_constraintdef(oid) AS definition
  FROM pg_constraint WHERE conrelid = 'bemi.changes_default'::regclass ORDER BY conname;
SELECT indexname, indexdef FROM pg_indexes
 WHERE schemaname = 'bemi' AND tablename = 'changes_default' ORDER BY indexname;
SELECT pg_get_partkeydef('bemi.changes'::regclass) AS partition_key,
       pg_get_expr(relpartbound, oid) AS default_bound
  FROM pg_class WHERE oid = 'bemi.changes_default'::regclass;
SELECT obj_description('bemi.changes'::regclass, 'pg_class') IS NOT NULL AS table_comment,
       count(*) FILTER (WHERE col_description('bemi.changes'::regclass, attnum) IS NULL) AS columns_without_comment
  FROM pg_attribute WHERE attrelid = 'bemi.changes'::regclass AND attnum > 0 AND NOT attisdropped;

-- bemi's own tables are captured like any other; edits of them are recorded in full.
SELECT relname, relreplident FROM pg_class
 WHERE relnamespace = 'bemi'::regnamespace
   AND relname IN ('changes', 'excluded_tables', 'replica_identity_schemas') ORDER BY relname;

-- The rows are dumped (user data), with the identity sequence and the configuration.
SELECT c::regclass AS dumped, extcondition[array_position(extconfig, c)] AS condition
  FROM pg_extension, unnest(extconfig) c
 WHERE extname = 'bemi'
   AND c IN ('bemi.changes'::regclass, 'bemi.changes_id_seq'::regclass,
             'bemi.excluded_tables'::regclass, 'bemi.replica_identity_schemas'::regclass)
 ORDER BY c::regclass::text;

-- The CHECK on operation and the unique (capture, commit_position, seq). Terse: the failing row's
-- DETAIL shows created_at. Negative transaction ids never come from the worker.
\set VERBOSITY terse
INSERT INTO bemi.changes (primary_key, before, after, context, database, schema, "table", operation,
                          committed_at, transaction_id, seq, position, commit_position)
VALUES ('1', '{}', '{}', '{}', 'db', 'public', 't', 'INSERT', now(), -1, 0, 1, 2);
BEGIN;
INSERT INTO bemi.changes (primary_key, before, after, context, database, schema, "table", operation,
                          committed_at, transaction_id, seq, position, commit_position)
VALUES ('1', '{}', '{"id": 1}', '{}', 'db', 'public', 't', 'CREATE', now(), -1, 0, 1, 2),
       ('1', '{"id": 1}', '{}', '{}', 'db', 'public', 't', 'DELETE', now(), -1, 1, 1, 2);
INSERT INTO bemi.changes (primary_key, before, after, context, database, schema, "table", operation,
                          committed_at, transaction_id, seq, position, commit_position)
VALUES ('1', '{}', '{}', '{}', 'db', 'public', 't', 'TRUNCATE', now(), -1, 0, 1, 2);
ROLLBACK;
INSERT INTO bemi.changes (primary_key, before, after, context, database, schema, "table", operation,
                          committed_at, transaction_id, seq, position, commit_position)
VALUES ('1', '{}', '{}', NULL, 'db', 'public', 't', 'CREATE', now(), -1, 0, 1, 2);
\set VERBOSITY default

-- Exclusions: a user_catalog_table (read under the decoding snapshot) with a statement
-- trigger that tells decoders to re-read it; patterns as the plugin's exclude-tables.
SELECT reloptions FROM pg_class WHERE oid = 'bemi.excluded_tables'::regclass;
SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'bemi.excluded_tables'::regclass;
BEGIN;
INSERT INTO bemi.excluded_tables (pattern, reason) VALUES
    ('public.sessions', 'churn'), ('*.cache_*', NULL), ('a\.b.c', 'schema "a.b"'),
    ('s.t\,x', 'table "t,x"'), ('s.t.with.dots', NULL), ('s.t\\', 'trailing backslash, escaped');
SELECT pattern, reason FROM bemi.excluded_tables ORDER BY pattern;
ROLLBACK;
\set VERBOSITY terse
INSERT INTO bemi.excluded_tables (pattern) VALUES ('sessions');
INSERT INTO bemi.excluded_tables (pattern) VALUES ('.sessions');
INSERT INTO bemi.excluded_tables (pattern) VALUES ('public.');
INSERT INTO bemi.excluded_tables (pattern) VALUES ('a\.b');
INSERT INTO bemi.excluded_tables (pattern) VALUES ('public.a,public.b');
INSERT INTO bemi.excluded_tables (pattern) VALUES ('public.t\');
INSERT INTO bemi.excluded_tables (pattern) VALUES (' public.t');
\set VERBOSITY default

-- REPLICA IDENTITY FULL on a two-level partitioned table: every level, every leaf.
CREATE SCHEMA regress_ri;
CREATE TABLE regress_ri.plain (id int PRIMARY KEY);
CREATE TABLE regress_ri.orders (id int, region int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE regress_ri.orders_eu PARTITION OF regress_ri.orders FOR VALUES IN (1) PARTITION BY RANGE (id);
CREATE TABLE regress_ri.orders_eu_a PARTITION OF regress_ri.orders_eu FOR VALUES FROM (0) TO (100);
CREATE TABLE regress_ri.orders_eu_b PARTITION OF regress_ri.orders_eu FOR VALUES FROM (100) TO (200);
CREATE TABLE regress_ri.orders_us PARTITION OF regress_ri.orders FOR VALUES IN (2);
CREATE VIEW regress_ri.v AS SELECT 1 AS one;
CREATE SEQUENCE regress_ri.seq;
SELECT * FROM bemi.set_replica_identity_full(
    ARRAY['regress_ri.orders', 'regress_ri.v', 'regress_ri.seq', 'regress_ri.orders_eu_a']::regclass[]);
SELECT relname, relkind, relreplident FROM pg_class
 WHERE relnamespace = 'regress_ri'::regnamespace AND relkind IN ('r', 'p') ORDER BY relname;
-- Already FULL: nothing to change.
SELECT * FROM bemi.set_replica_identity_full(ARRAY['regress_ri.orders']::regclass[]);
-- A whole schema, and the tables created or attached in it later.
CREATE SCHEMA regress_ri_other;
CREATE TABLE regress_ri_other.orders_asia (id int, region int, PRIMARY KEY (id, region)) PARTITION BY RANGE (id);
CREATE TABLE regress_ri_other.orders_asia_a PARTITION OF regress_ri_other.orders_asia FOR VALUES FROM (0) TO (100);
CREATE TABLE regress_ri_other.orders_africa (id int, region int, PRIMARY KEY (id, region));
CREATE TABLE regress_ri_other.unrelated (id int PRIMARY KEY);
SELECT * FROM bemi.set_replica_identity_full('regress_ri', include_future => true);
SELECT schema_name FROM bemi.replica_identity_schemas;
CREATE TABLE regress_ri.later (id int PRIMARY KEY);
CREATE TABLE regress_ri.later_as AS SELECT 1 AS id;
SELECT 1 AS id INTO regress_ri.later_into;
CREATE UNLOGGED TABLE regress_ri.later_unlogged (id int);
CREATE TEMP TABLE later_temp (id int);
CREATE TABLE regress_ri.orders_sa PARTITION OF regress_ri.orders FOR VALUES IN (3) PARTITION BY RANGE (id);
CREATE TABLE regress_ri.orders_sa_a PARTITION OF regress_ri.orders_sa FOR VALUES FROM (0) TO (100);
-- Attached later: the partition and everything under it, even outside the schema.
ALTER TABLE regress_ri.orders ATTACH PARTITION regress_ri_other.orders_asia FOR VALUES IN (4);
ALTER TABLE regress_ri.orders ATTACH PARTITION regress_ri_other.orders_africa FOR VALUES IN (5);
-- An explicit choice on a partition stays, even when its parent is altered later.
ALTER TABLE regress_ri.orders_us REPLICA IDENTITY DEFAULT;
ALTER TABLE regress_ri.orders ADD COLUMN note text;
SELECT n.nspname, c.relname, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname LIKE 'regress_ri%' AND c.relkind IN ('r', 'p')
 ORDER BY 1, 2;
SELECT relreplident AS temp_table_replident FROM pg_class WHERE oid = 'later_temp'::regclass;
-- Forgetting a schema leaves existing tables alone.
SELECT bemi.stop_replica_identity_full('regress_ri') AS was_recorded,
       bemi.stop_replica_identity_full('regress_ri') AS still_recorded;
CREATE TABLE regress_ri.after_stop (id int PRIMARY KEY);
SELECT relreplident FROM pg_class WHERE oid = 'regress_ri.after_stop'::regclass;
SELECT * FROM bemi.set_replica_identity_full('no_such_schema');
SELECT * FROM bemi.set_replica_identity_full('pg_catalog');
-- Disabled while no schema is recorded (regress_ri was removed above): DDL then takes no lock on the table.
SELECT evtname, evtevent, evtenabled, evttags FROM pg_event_trigger WHERE evtname = 'bemi_replica_identity_full';
-- Functions running with elevated rights pin their search_path (none may be missing).
SELECT p.oid::regprocedure AS definer_without_search_path
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'bemi')
   AND p.prosecdef
   AND NOT EXISTS (SELECT FROM unnest(p.proconfig) s WHERE s LIKE 'search\_path=%');

-- An application role: may set its context, may not write the audit trail nor change what is
-- captured, may not even read it.
CREATE ROLE regress_bemi_app LOGIN;
CREATE SCHEMA regress_app AUTHORIZATION regress_bemi_app;
SELECT * FROM bemi.set_replica_identity_full('regress_app', true);
SET ROLE regress_bemi_app;
SELECT bemi_set_context('{"user_id": 1, "endpoint": "/todo"}');
SELECT bemi_get_context();
SELECT bemi_clear_context();
BEGIN;
SELECT bemi.set_context('{"user_id": 2}', true);
SELECT bemi.get_context();
SELECT bemi.clear_context(true);
COMMIT;
SELECT bemi.clear_context();
-- Its DDL in a recorded schema still gets FULL (the event trigger reads the configuration
-- with the owner's rights).
CREATE TABLE regress_app.mine (id int PRIMARY KEY);
SELECT relreplident FROM pg_class WHERE oid = 'regress_app.mine'::regclass;
INSERT INTO bemi.changes (primary_key, before, after, context, database, schema, "table", operation,
                          committed_at, transaction_id, seq, position, commit_position)
VALUES ('1', '{}', '{}', '{}', 'db', 'public', 't', 'CREATE', now(), -1, 0, 1, 2);
UPDATE bemi.changes SET context = '{}';
DELETE FROM bemi.changes;
TRUNCATE bemi.changes;
SELECT count(*) FROM bemi.changes;
ALTER TABLE bemi.changes DISABLE TRIGGER ALL;
DROP TABLE bemi.changes;
CREATE TABLE bemi.changes_shadow (id int);
INSERT INTO bemi.excluded_tables (pattern) VALUES ('public.secret');
UPDATE bemi.excluded_tables SET reason = 'x';
DELETE FROM bemi.excluded_tables;
TRUNCATE bemi.excluded_tables;
INSERT INTO bemi.replica_identity_schemas (schema_name) VALUES ('public');
DELETE FROM bemi.replica_identity_schemas;
SELECT bemi.set_replica_identity_full(ARRAY['regress_app.mine']::regclass[]);
SELECT bemi.set_replica_identity_full('regress_app');
SELECT bemi.stop_replica_identity_full('regress_app');
RESET ROLE;

-- bemi_reader reads the audit trail and the exclusions, and writes nothing.
SET ROLE bemi_reader;
SELECT count(*) FROM bemi.changes WHERE transaction_id < 0;
SELECT count(*) FROM bemi.excluded_tables;
SELECT count(*) FROM bemi.replica_identity_schemas;
DELETE FROM bemi.changes WHERE transaction_id < 0;
INSERT INTO bemi.excluded_tables (pattern) VALUES ('public.secret');
RESET ROLE;
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = 'bemi_reader';

-- The script does not depend on the caller's search_path: a schema that shadows names the
-- script uses, ahead of pg_catalog, changes nothing; neither does an empty search_path.
-- The upgrade path from the first release gives the same objects.
DROP EXTENSION bemi;
CREATE SCHEMA regress_evil;
CREATE TABLE regress_evil.changes (id int);
CREATE FUNCTION regress_evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '2000-01-01'::timestamptz $$;
CREATE FUNCTION regress_evil.format(text, name, name) RETURNS text LANGUAGE sql AS $$ SELECT 'SELECT 1' $$;
SET search_path = regress_evil, pg_catalog;
CREATE EXTENSION bemi;
SELECT pg_get_expr(d.adbin, d.adrelid) AS created_at_default
  FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
 WHERE d.adrelid = 'bemi.changes'::regclass AND a.attname = 'created_at';
SELECT count(*) AS evil_changes_rows FROM regress_evil.changes;
CREATE TABLE regress_ri.under_evil_path (id int);
SELECT * FROM bemi.set_replica_identity_full(ARRAY['regress_ri.under_evil_path']::regclass[]);
SET search_path = '';
DROP EXTENSION bemi;
CREATE EXTENSION bemi VERSION '0.1';
ALTER EXTENSION bemi UPDATE;
SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'bemi';
SELECT pg_catalog.count(*) AS changes_columns FROM information_schema.columns
 WHERE table_schema = 'bemi' AND table_name = 'changes';
DROP EXTENSION bemi;
CREATE EXTENSION bemi;
SELECT pg_catalog.count(*) AS changes_columns FROM information_schema.columns
 WHERE table_schema = 'bemi' AND table_name = 'changes';
RESET search_path;

-- Without schema public there is nowhere for the unqualified context functions: a clear error.
CREATE DATABASE regress_bemi_nopublic;
\c regress_bemi_nopublic
DROP SCHEMA public;
CREATE EXTENSION bemi;
SELECT count(*) AS leftover_extensions FROM pg_extension WHERE extname = 'bemi';
\c :regress_db
DROP DATABASE regress_bemi_nopublic WITH (FORCE);

-- Clean up: the extension, the schema it created, the roles (cluster-wide).
DROP EXTENSION bemi;
DROP SCHEMA bemi;
SET client_min_messages = warning;
DROP SCHEMA regress_ri, regress_ri_other, regress_app, regress_evil CASCADE;
DROP ROLE regress_bemi_app;
\if :creates_reader
-- (kept if another database's extension still grants to it)
DO $$ BEGIN DROP ROLE bemi_reader; EXCEPTION WHEN dependent_objects_still_exist THEN NULL; END $$;
\endif
