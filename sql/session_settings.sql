-- The decoding session's settings never change a record, and the plugin never leaks the
-- settings it pins for itself into the caller (docs/record-format.md, "Values are exact").
SET client_min_messages = warning;
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot_settings', 'bemi');
-- The contract's session, to take what to_jsonb() gives for each row as the reference.
SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres';
SET extra_float_digits = 1; SET bytea_output = 'hex'; SET lc_monetary = 'C';

CREATE TYPE stamp AS (at timestamptz, local timestamp, d date, iv interval, f8 float8, f4 real,
                      b bytea, m money, r tstzrange, p point);
CREATE TABLE settings_t (
    id integer PRIMARY KEY,
    tstz timestamptz, ts timestamp, d date, iv interval, f8 float8, f4 real, b bytea, m money,
    r tstzrange, dr daterange, tstz_arr timestamptz[], iv_arr interval[], f8_arr float8[], f4_arr real[],
    b_arr bytea[], m_arr money[], r_arr tstzrange[], c stamp, c_arr stamp[], p point, circ circle, j json
);
ALTER TABLE settings_t REPLICA IDENTITY FULL;

-- Values chosen so that each setting would show: fractional seconds, offsets that are not
-- whole hours, dates where DMY and MDY differ, intervals with every field, floats whose
-- short forms differ from their exact ones, bytes that escape differently.
INSERT INTO settings_t VALUES
    (1, '2024-03-04 05:06:07.123456+00', '2024-03-04 05:06:07.123456', '2024-03-04',
     '1 year 2 mons 3 days 04:05:06.789', 0.30000000000000004, 1.1, '\x00015c7fff', 1234.56,
     '[2024-03-04 05:06:07+00,2024-12-31 23:59:59.999999+00)', '[2024-03-04,2024-05-06)',
     '{"2024-03-04 05:06:07.5+00","1999-12-31 23:59:59+00",infinity}', '{"-1 day +02:00","3 mons 4 days"}',
     '{0.1,0.30000000000000004,1.0000000000000002,-123456789.12345679}', '{1.1,16777217,1.00000012}',
     '{"\\x00","\\x5c"}', '{1.5,-2}', '{"[2024-01-01 00:00+00,2024-01-02 00:00+00)",empty}',
     ROW('2024-07-08 09:10:11.654321+00', '2024-07-08 09:10:11', '2024-07-08', '-1 year -2 days 03:04:05',
         1.0000000000000002, 0.1, '\xdeadbeef', 99.99, '[2024-01-01 00:00+00,)', '(0.1,0.30000000000000004)'),
     ARRAY[ROW('1900-01-01 00:00:00+00', NULL, '0044-03-15 BC', '1 second', 'NaN', '-Infinity', '\x', -0.01, 'empty', '(0,0)')::stamp],
     '(0.30000000000000004,1e+300)', '<(0.1,0.2),0.30000000000000004>',
     '{"t": "2024-03-04T05:06:07", "n": 1.10}'),
    (2, '1900-01-01 00:00:00+00', '0044-03-15 12:00:00 BC', '0044-03-15 BC',
     '-178000000 years -1 microsecond', '-Infinity', 'NaN', '', -92233720368547758.08,
     '(,)', 'empty', '{}', '{}', '{}', '{}', '{}', '{}', '{}', NULL, '{}', NULL, NULL, NULL),
    (3, 'infinity', '-infinity', 'infinity', '0', 5e-324, 1e-45, '\x22', 0,
     'empty', '(,)', '{NULL}', '{NULL}', '{NULL}', '{NULL}', '{NULL}', '{NULL}', '{NULL}',
     ROW(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), '{NULL}', '(-0,0)', '<(0,0),0>', 'null');
CREATE TEMP TABLE expected_inserted AS SELECT id, to_jsonb(t) AS j FROM settings_t t;
UPDATE settings_t SET tstz = tstz + interval '1 microsecond', c = NULL WHERE id = 1;
DELETE FROM settings_t WHERE id = 2;
CREATE TEMP TABLE expected_final AS SELECT id, to_jsonb(t) AS j FROM settings_t t;
RESET ALL;
SET client_min_messages = warning;

-- The first peek, under the session's defaults (pg_regress: PST8PDT, DateStyle Postgres, MDY).
SELECT current_setting('TimeZone') AS tz, current_setting('DateStyle') AS datestyle;
CREATE TEMP TABLE first_peek AS
SELECT row_number() OVER () AS n, data FROM pg_logical_slot_peek_changes('regression_slot_settings', NULL, NULL);

-- The first peek is what the contract says: to_jsonb() in the contract's session.
SELECT n, data::jsonb->>'operation' AS operation, data::jsonb->>'primary_key' AS id,
       (data::jsonb->'before') = CASE data::jsonb->>'operation' WHEN 'CREATE' THEN '{}' ELSE i.j END AS before_exact,
       (data::jsonb->'after') = CASE data::jsonb->>'operation' WHEN 'CREATE' THEN i.j WHEN 'UPDATE' THEN f.j ELSE '{}' END
           AS after_exact
FROM first_peek JOIN expected_inserted i ON i.id = (data::jsonb->>'primary_key')::int
     LEFT JOIN expected_final f ON f.id = i.id
ORDER BY n;
-- Key by key, so that a failure names the column: no rows.
SELECT n, k AS column_name, data::jsonb->'after'->k AS bemi, i.j->k AS to_jsonb
FROM first_peek JOIN expected_inserted i ON i.id = (data::jsonb->>'primary_key')::int,
     LATERAL jsonb_object_keys(i.j) k
WHERE data::jsonb->>'operation' = 'CREATE' AND (data::jsonb->'after'->k) IS DISTINCT FROM (i.j->k);
-- A sample record.
SELECT jsonb_pretty(data::jsonb - '{transaction_id,position,commit_position,committed_at}'::text[]) AS record
FROM first_peek WHERE n = 1;

-- Peeks again and compares with the first peek, record by record and byte for byte.
CREATE FUNCTION peek_differences(OUT records bigint, OUT only_in_first bigint, OUT only_in_this bigint)
LANGUAGE sql AS $$
    WITH this_peek AS (
        SELECT row_number() OVER () AS n, data
        FROM pg_logical_slot_peek_changes('regression_slot_settings', NULL, NULL))
    SELECT (SELECT count(*) FROM this_peek),
           (SELECT count(*) FROM (SELECT n, data FROM first_peek EXCEPT ALL SELECT n, data FROM this_peek) x),
           (SELECT count(*) FROM (SELECT n, data FROM this_peek EXCEPT ALL SELECT n, data FROM first_peek) x)
$$;
CREATE TEMP VIEW settings_now AS
SELECT current_setting('TimeZone') AS tz, current_setting('DateStyle') AS datestyle,
       current_setting('IntervalStyle') AS intervalstyle, current_setting('extra_float_digits') AS efd,
       current_setting('bytea_output') AS bytea_output, current_setting('lc_monetary') AS lc_monetary;

-- 1.
SET TimeZone = 'America/Los_Angeles';
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = -3;
SET bytea_output = 'escape';
SET lc_monetary = 'POSIX';
SELECT * FROM peek_differences();
SELECT * FROM settings_now;

-- 2.
SET TimeZone = 'Asia/Kolkata';
SET DateStyle = 'German';
SET IntervalStyle = 'iso_8601';
SET extra_float_digits = 0;
SET bytea_output = 'hex';
SET lc_monetary = 'C';
SELECT * FROM peek_differences();
SELECT * FROM settings_now;

-- 3.
SET TimeZone = 'Pacific/Chatham';
SET DateStyle = 'Postgres, MDY';
SET IntervalStyle = 'postgres_verbose';
SET extra_float_digits = 3;
SET bytea_output = 'escape';
SELECT * FROM peek_differences();
SELECT * FROM settings_now;

-- 4. A fixed offset that is not a whole hour, and ISO with DMY.
SET TIME ZONE INTERVAL '-03:30' HOUR TO MINUTE;
SET DateStyle = 'ISO, DMY';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = -15;
SELECT * FROM peek_differences();
SELECT * FROM settings_now;

-- 5. The contract's own settings.
SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres';
SET extra_float_digits = 1; SET bytea_output = 'hex'; SET lc_monetary = 'C';
SELECT * FROM peek_differences();
SELECT * FROM settings_now;

-- The caller's settings are in force right after decoding, in the same statement.
SET TimeZone = 'Asia/Kolkata';
SET DateStyle = 'German';
SELECT DISTINCT current_setting('TimeZone') AS tz, current_setting('DateStyle') AS datestyle,
       '2024-03-04 05:06:07+00'::timestamptz::text AS a_timestamptz
FROM pg_logical_slot_peek_changes('regression_slot_settings', NULL, NULL);
SELECT count(*) AS records, current_setting('TimeZone') AS tz
FROM pg_logical_slot_peek_changes('regression_slot_settings', NULL, NULL, 'include-transaction', 'true');

-- SET LOCAL inside a transaction block, and a savepoint around a peek: all kept.
BEGIN;
SET LOCAL TimeZone = 'Europe/Berlin';
SET LOCAL IntervalStyle = 'iso_8601';
SELECT * FROM peek_differences();
SELECT * FROM settings_now;
SAVEPOINT s1;
SET LOCAL extra_float_digits = 2;
SELECT * FROM peek_differences();
RELEASE SAVEPOINT s1;
SELECT * FROM settings_now;
COMMIT;
SELECT * FROM settings_now;

-- Inside a function with its own SET clause: decoding ends with the function's value in force,
-- and the caller's comes back when the function returns.
CREATE FUNCTION peek_in_function(OUT only_in_first bigint, OUT only_in_this bigint, OUT tz_after text,
                                 OUT bytea_after text)
LANGUAGE sql SET TimeZone = 'Asia/Tokyo' SET bytea_output = 'escape' AS $$
    SELECT d.only_in_first, d.only_in_this, current_setting('TimeZone'), current_setting('bytea_output')
    FROM peek_differences() d
$$;
SELECT * FROM peek_in_function();
SELECT * FROM settings_now;

-- A decoding call that fails (an unknown option is an ERROR at start-up) changes nothing either:
-- at top level, in a savepoint, and inside a DO block that catches the error.
SET TimeZone = 'America/Los_Angeles';
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = -3;
SET bytea_output = 'escape';
-- (terse: the error's hint and context are the options test's business)
\set VERBOSITY terse
SELECT count(*) FROM pg_logical_slot_peek_changes('regression_slot_settings', NULL, NULL, 'bogus-option', '1');
SELECT * FROM settings_now;
BEGIN;
SET LOCAL TimeZone = 'Asia/Kolkata';
SAVEPOINT s2;
SELECT count(*) FROM pg_logical_slot_peek_changes('regression_slot_settings', NULL, NULL, 'include-transaction', 'maybe');
ROLLBACK TO SAVEPOINT s2;
SELECT * FROM settings_now;
COMMIT;
DO $$
BEGIN
    PERFORM count(*) FROM pg_logical_slot_peek_changes('regression_slot_settings', NULL, NULL, 'bogus-option', '1');
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'caught: %', SQLERRM;
END $$;
SELECT * FROM settings_now;
\set VERBOSITY default
-- A failure in the middle of decoding, after the settings were pinned: a statement timeout
-- while many changes are decoded.
INSERT INTO settings_t (id, tstz) SELECT g, '2024-01-01 00:00:00+00' FROM generate_series(100, 30099) g;
-- Terse: where the timeout lands (inside an output plugin callback or not) decides whether a
-- CONTEXT line follows; the ERROR itself is what this checks.
\set VERBOSITY terse
SET statement_timeout = '1ms';
SELECT count(*) FROM pg_logical_slot_peek_changes('regression_slot_settings', NULL, NULL);
RESET statement_timeout;
\set VERBOSITY default
SELECT * FROM settings_now;
-- And decoding still works, with the same records as the first peek (plus the new rows).
SELECT count(*) AS records,
       count(*) FILTER (WHERE p.data IS DISTINCT FROM f.data AND f.n IS NOT NULL) AS differing_first_records
FROM (SELECT row_number() OVER () AS n, data
      FROM pg_logical_slot_peek_changes('regression_slot_settings', NULL, NULL)) p
LEFT JOIN first_peek f USING (n);

SELECT 'stop' FROM pg_drop_replication_slot('regression_slot_settings');
DROP FUNCTION peek_in_function(), peek_differences();
DROP TABLE settings_t;
DROP TYPE stamp;
