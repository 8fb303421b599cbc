-- Table filters: include-tables and exclude-tables take schema.table patterns with *.
-- seq is counted before filtering, so it does not move when filters change.
SET client_min_messages = warning;
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot_filters', 'bemi');
CREATE SCHEMA app;
CREATE SCHEMA "we.ird";
CREATE TABLE app.users (id int PRIMARY KEY);
CREATE TABLE app.user_sessions (id int PRIMARY KEY);
CREATE TABLE app.orders (id int PRIMARY KEY);
CREATE TABLE public.cache_entries (id int PRIMARY KEY);
CREATE TABLE "we.ird"."star*table" (id int PRIMARY KEY);
CREATE TABLE "we.ird"."starXtable" (id int PRIMARY KEY);

BEGIN;
INSERT INTO app.users VALUES (1);
INSERT INTO app.user_sessions VALUES (1);
INSERT INTO app.orders VALUES (1);
INSERT INTO public.cache_entries VALUES (1);
INSERT INTO "we.ird"."star*table" VALUES (1);
INSERT INTO "we.ird"."starXtable" VALUES (1);
TRUNCATE app.orders, public.cache_entries;
COMMIT;

CREATE FUNCTION captured(VARIADIC options text[]) RETURNS TABLE (seq int, tbl text, op text)
LANGUAGE sql AS $$
  SELECT (data::jsonb->>'seq')::int, (data::jsonb->>'schema') || '.' || (data::jsonb->>'table'), data::jsonb->>'operation'
  FROM pg_logical_slot_peek_changes('regression_slot_filters', NULL, NULL, VARIADIC options)
$$;

-- Everything, for reference.
SELECT * FROM captured(VARIADIC '{}'::text[]);
-- Only the app schema.
SELECT * FROM captured('include-tables', 'app.*');
-- The app schema without sessions; seq numbers stay those of the unfiltered stream.
SELECT * FROM captured('include-tables', 'app.*', 'exclude-tables', 'app.*_sessions');
-- Exclusions only, several patterns, star in the schema.
SELECT * FROM captured('exclude-tables', '*.cache_*, app.users');
-- Dots and stars inside names are escaped with a backslash.
SELECT * FROM captured('include-tables', 'we\.ird.star\*table');
SELECT * FROM captured('include-tables', 'we\.ird.star*table');
-- Several include options add up.
SELECT * FROM captured('include-tables', 'app.users', 'include-tables', 'app.orders');
-- A pattern that matches nothing leaves the transaction with no output at all.
SELECT count(*) FROM pg_logical_slot_peek_changes('regression_slot_filters', NULL, NULL,
  'include-tables', 'nothing.here', 'include-transaction', 'on');

SELECT pg_drop_replication_slot('regression_slot_filters');
DROP FUNCTION captured(text[]);
DROP SCHEMA app, "we.ird" CASCADE;
DROP TABLE public.cache_entries;
