-- Values are exact: every column value equals, as jsonb, what to_jsonb() gives in a session
-- with TimeZone = 'UTC', DateStyle = 'ISO', IntervalStyle = 'postgres', extra_float_digits = 1,
-- bytea_output = 'hex' and lc_monetary = 'C' (docs/record-format.md, "Values are exact").
SET client_min_messages = warning;
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot_values', 'bemi');
-- The contract's session: what to_jsonb() gives here is what the records must hold.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 1;
SET bytea_output = 'hex';
SET lc_monetary = 'C';

CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE DOMAIN short_text AS text CHECK (length(VALUE) <= 40);
CREATE TYPE inner_c AS (gone text, x integer, at timestamptz, f float8, b bytea);
-- A composite with a dropped attribute: it must not show up inside the object either.
ALTER TYPE inner_c DROP ATTRIBUTE gone;
CREATE TYPE outer_c AS (name text, inner_c inner_c, tags text[], n numeric, d date, m mood, j json);

CREATE TABLE vals (
    id integer PRIMARY KEY,
    c_dropme text,
    c_bool boolean,
    c_int2 smallint, c_int4 integer, c_int8 bigint,
    c_float4 real, c_float8 double precision,
    c_numeric numeric,
    c_text text, c_varchar varchar(300), c_char char(12),
    c_name name, c_qchar "char",
    c_bytea bytea,
    c_json json, c_jsonb jsonb,
    c_date date, c_time time, c_timetz timetz, c_ts timestamp, c_tstz timestamptz,
    c_interval interval,
    c_uuid uuid, c_inet inet, c_cidr cidr, c_macaddr macaddr,
    c_money money,
    c_int4range int4range, c_tstzrange tstzrange, c_daterange daterange, c_int4multirange int4multirange,
    c_point point, c_box box, c_circle circle,
    c_tsvector tsvector,
    c_bit bit(8), c_varbit varbit,
    c_xml xml,
    c_oid oid, c_lsn pg_lsn,
    c_int_arr integer[], c_int_2d integer[][], c_text_arr text[], c_tstz_arr timestamptz[],
    c_float_arr float8[], c_numeric_arr numeric[],
    c_comp outer_c, c_comp_arr inner_c[],
    c_posint posint, c_short short_text,
    c_mood mood,
    c_gen bigint GENERATED ALWAYS AS (c_int4::bigint * 2) STORED,
    c_last text
);
-- Dropped before any row is written: it must never appear in a record.
ALTER TABLE vals DROP COLUMN c_dropme;
ALTER TABLE vals REPLICA IDENTITY FULL;

-- Row 1: ordinary values, and every hard character for a JSON string.
INSERT INTO vals (id, c_bool, c_int2, c_int4, c_int8, c_float4, c_float8, c_numeric,
                  c_text, c_varchar, c_char, c_name, c_qchar, c_bytea, c_json, c_jsonb,
                  c_date, c_time, c_timetz, c_ts, c_tstz, c_interval,
                  c_uuid, c_inet, c_cidr, c_macaddr, c_money,
                  c_int4range, c_tstzrange, c_daterange, c_int4multirange,
                  c_point, c_box, c_circle, c_tsvector, c_bit, c_varbit, c_xml, c_oid, c_lsn,
                  c_int_arr, c_int_2d, c_text_arr, c_tstz_arr, c_float_arr, c_numeric_arr,
                  c_comp, c_comp_arr, c_posint, c_short, c_mood, c_last)
VALUES (1, true, -32768, 2147483647, -9223372036854775808, 1.1, 1.1,
        1.500,
        'ctl:' || (SELECT string_agg(chr(i), '' ORDER BY i) FROM generate_series(1, 31) i)
            || chr(127) || ' quote" apos'' back\slash /solidus emoji 😀👍🏽 combining e' || chr(769)
            || ' cjk 漢字 bom' || chr(65279) || ' ls' || chr(8232) || ' nbsp' || chr(160),
        'varchar "q" \b ünïcödé', 'pad',
        'name "with" \ ünï', 'q', '\x00ff10275c22'::bytea,
        E'{"a": 1, "a": 2,\n  "b" : [1, 2.50, {"c": "x\\ny"}],\r\n\t"u": "\\u00e9\\ud83d\\ude00", "n": null}',
        '{"b": [1, 2, {"c": null}], "a": "ü", "num": 1.500, "big": 123456789012345678901234567890}',
        '2024-02-29', '12:34:56.789012', '23:59:59.999999-15:59',
        '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123456+05:30',
        '1 year 2 mons 3 days 04:05:06.789',
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03',
        1234.56,
        '[1,10)', '[2024-01-01 00:00:00+02,2024-02-01 00:00:00+02)', '[2024-01-01,2024-02-01)',
        '{[1,3), [5,8)}',
        '(1.5,-2)', '((0,0),(1,1))', '<(0,0),2.5>',
        'a fat cat:3A sat''s', B'10101010', B'101',
        '<a x="1">t &amp; "q"</a>', 4294967295, '16/B374D848',
        '{1,NULL,3}', '{{1,2},{3,4}}', ARRAY['a "quoted" b', 'back\slash', NULL, 'NULL', '', 'ü😀', E'line\nbreak'],
        '{"2024-01-01 00:00:00.000001+05",infinity,-infinity,NULL}',
        '{1.1,0.30000000000000004,1e300,NaN,Infinity,-Infinity,5e-324,NULL}',
        '{1.500,NaN,Infinity,12345678901234567890123456789012345678901234567890.1}',
        ROW('outer "n"', ROW(7, '2024-06-01 12:00:00+03', 0.1, '\xdeadbeef')::inner_c,
            ARRAY['x', NULL, 'y"z'], 1.500, '2024-01-01', 'happy', '{"k": [1, 2], "k": "dup"}')::outer_c,
        ARRAY[ROW(1, '2024-01-01 00:00:00+00', 'NaN', '\x')::inner_c, NULL, ROW(NULL, NULL, -1e-300, NULL)::inner_c],
        42, 'short text "q"', 'happy', 'last');

-- Rows 2 to 4: the edges of each type.
INSERT INTO vals (id, c_bool, c_int2, c_int4, c_int8, c_float4, c_float8, c_numeric,
                  c_text, c_varchar, c_char, c_name, c_qchar, c_bytea, c_json, c_jsonb,
                  c_date, c_time, c_timetz, c_ts, c_tstz, c_interval,
                  c_uuid, c_inet, c_cidr, c_macaddr, c_money,
                  c_int4range, c_tstzrange, c_daterange, c_int4multirange,
                  c_point, c_box, c_circle, c_tsvector, c_bit, c_varbit, c_xml, c_oid, c_lsn,
                  c_int_arr, c_int_2d, c_text_arr, c_tstz_arr, c_float_arr, c_numeric_arr,
                  c_comp, c_comp_arr, c_posint, c_short, c_mood, c_last)
VALUES (2, false, 32767, -2147483648, 9223372036854775807, 'NaN', 'NaN',
        '12345678901234567890123456789012345678901234567890.12345678901234567890123456789',
        '', '', '', '', '"', ''::bytea,
        '"just a string"', '"str"',
        'infinity', '00:00:00', '00:00:00+15:59', 'infinity', 'infinity',
        '-1 day +02:03:04.5',
        '00000000-0000-0000-0000-000000000000', '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff',
        '92233720368547758.07',
        'empty', '[2024-01-01 00:00:00+02,infinity)', '(,2024-01-01]', '{}',
        '(0.30000000000000004,1e+300)', '((-1.5,-2),(3.25,4))', '<(1e-300,-0.1),0.30000000000000004>',
        '', B'00000000', B'',
        '<!-- comment -->text', 0, '0/0',
        '{}', '[0:1][5:6]={{1,2},{3,4}}', '{}', '{}', '{}', '{}',
        ROW(NULL, NULL, NULL, NULL, NULL, NULL, NULL)::outer_c, '{}',
        1, '', 'sad', E'trailing\\'),
       (3, NULL, 0, 0, 0, 'Infinity', '-Infinity', 'NaN',
        'x', 'y', 'z', 'n', chr(200)::"char", '\x5c'::bytea,
        '[1, 2.0, 3e2, -0, 1E-2, true, false, null, {}, []]', '[]',
        '-infinity', '24:00:00', '12:00:00+03', '-infinity', '-infinity',
        '178000000 years',
        'ffffffff-ffff-ffff-ffff-ffffffffffff', '255.255.255.255', '0.0.0.0/0', '00:00:00:00:00:00',
        -0.01,
        '(,)', '(,)', 'empty', '{[1,2], (10,)}',
        '(-0,0)', '((0,0),(0,0))', '<(0,0),0>',
        'a:1,2,3 b:4B', B'11111111', B'0',
        'plain', 1, 'FFFFFFFF/FFFFFFFF',
        '{NULL}', '{{NULL,NULL}}', '{NULL}', '{NULL}', '{-0,0}', '{-0.000}',
        ROW('', ROW(NULL, NULL, NULL, NULL)::inner_c, '{}', 'NaN', 'infinity', 'ok', 'null')::outer_c,
        ARRAY[NULL]::inner_c[],
        2147483647, 'x', 'ok', NULL),
       (4, true, -1, -1, -1, '-Infinity', 'Infinity', 'Infinity',
        'bmp ' || chr(65535) || ' astral ' || chr(1114111), 'tab	tab', 'twelve chars',
        repeat('n', 63), '\', '\x5c22'::bytea,
        '{"deep": {"deeper": {"deepest": [[[[1]]]]}}, "esc": "\"\\\/\b\f\n\r\t"}', '{"a": {"b": {"c": [[[]]]}}}',
        '4713-01-01 BC', '00:00:00.000001', '00:00:00-15:59',
        '4713-01-01 00:00:00 BC', '9999-12-31 23:59:59.999999+00',
        '-178000000 years -1 microsecond',
        'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '2001:db8::1/64', '192.168.1.0/24', '01-02-03-04-05-06',
        -92233720368547758.08,
        '[-2147483648,2147483647)', '[1900-01-01 00:00:00 Asia/Kolkata,1900-01-01 00:00:00.000001 Europe/Amsterdam]',
        '[9999-12-31,infinity)', '{[-2147483648,0)}',
        '(1e-320,-1e-320)', '((1e300,1e300),(-1e300,-1e300))', '<(0.1,0.2),1e300>',
        'ü:1 😀:2', B'00000001', B'1010101010101010101010101010101010101',
        '<?xml version="1.0"?><r/>', 2147483648, '1/0',
        '{-2147483648,2147483647}', '{{1},{2},{3}}', '{"\\","\"","{}","a,b"," space "}',
        '{"0044-03-15 12:00:00 BC","9999-12-31 23:59:59.999999+00","1900-01-01 00:00:00 Europe/Amsterdam"}',
        '{-Infinity,2.2250738585072014e-308,1.7976931348623157e308,-1e-320}',
        '{-12345678901234567890123456789012345678901234567890,0.00000000000000000000000000000000000000001}',
        ROW('n', ROW(-1, '0044-03-15 12:00:00 BC', '-Infinity', '\x00')::inner_c, ARRAY['\'], -0.0, '4713-01-01 BC', 'sad', '{"n": 1.0e+2}')::outer_c,
        ARRAY[ROW(1, 'infinity', 1.7976931348623157e308, '\xff')::inner_c],
        1, 'ünï', 'happy', '');

-- Rows 5 to 7: more floats, dates and times (denormals, -0, the largest and smallest).
INSERT INTO vals (id, c_float4, c_float8, c_numeric, c_date, c_ts, c_tstz, c_time, c_timetz)
VALUES (5, '-0', '-0', '0.000000000000000000000000000000000000000000000000001', '9999-12-31',
        '9999-12-31 23:59:59.999999', '0001-01-01 00:00:00+00', '23:59:59.999999', '23:59:59.999999+15:59'),
       (6, '1e-45', '5e-324', '-1e-20', '0044-03-15 BC', '0044-03-15 12:34:56.5 BC', '0001-12-31 23:59:59.999999+00 BC',
        '12:00', '12:00:00.5+05:30'),
       (7, '3.4e38', '1e300', '-12345678901234567890123456789012345678901.500', '294276-12-31',
        '294276-12-31 23:59:59.999999', '294276-12-31 23:59:59.999999+00', '00:00:00.5', '00:00:00.5-00:00:30');
INSERT INTO vals (id, c_float4, c_float8) VALUES (8, '1.17549435e-38', '2.2250738585072014e-308'),
       (9, '-3.4028235e38', '-1.7976931348623157e308'), (10, '0.1', '0.30000000000000004');

-- Row 11: NULL in every column (the generated column is NULL because c_int4 is).
INSERT INTO vals (id) VALUES (11);

-- What to_jsonb() gives for each row as inserted, in the contract's session (set below).
CREATE TEMP TABLE vals_inserted AS SELECT v AS row FROM vals v;
CREATE TEMP TABLE expected_inserted AS SELECT id, to_jsonb(v) AS j FROM vals v;

-- UPDATE and DELETE: under REPLICA IDENTITY FULL the before images must be exact too.
UPDATE vals SET c_int4 = c_int4 - 1, c_last = 'updated' WHERE id IN (1, 3, 11);
DELETE FROM vals WHERE id = 4;
CREATE TEMP TABLE expected_final AS SELECT id, to_jsonb(v) AS j FROM vals v;

-- Decode under settings far from the contract's; none of them may show in a record.
SET TimeZone = 'Pacific/Chatham';
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'iso_8601';
SET extra_float_digits = -3;
SET bytea_output = 'escape';
CREATE TEMP TABLE records AS
SELECT row_number() OVER () AS n, data, data::jsonb AS r
FROM pg_logical_slot_peek_changes('regression_slot_values', NULL, NULL)
WHERE data::jsonb->>'table' = 'vals';
-- The settings the decoding session had are still in force after decoding.
SELECT current_setting('TimeZone') AS tz, current_setting('DateStyle') AS datestyle,
       current_setting('IntervalStyle') AS intervalstyle, current_setting('extra_float_digits') AS efd,
       current_setting('bytea_output') AS bytea_output;

-- Back to the contract's session, for the comparisons below.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 1;
SET bytea_output = 'hex';
SET lc_monetary = 'C';

-- Every record is one line; the changes in order.
SELECT count(*) AS records, count(*) FILTER (WHERE strpos(data, chr(10)) > 0 OR strpos(data, chr(13)) > 0) AS multi_line,
       string_agg(r->>'operation' || ' ' || (r->>'primary_key'), ', ' ORDER BY n) AS changes
FROM records;

-- Columns: exactly the table's live columns, with the generated one and without the dropped one.
SELECT n, array_agg(k ORDER BY k) AS keys
FROM records, jsonb_object_keys(CASE WHEN r->>'operation' = 'DELETE' THEN r->'before' ELSE r->'after' END) k
GROUP BY n
HAVING array_agg(k ORDER BY k) <> (SELECT array_agg(attname::text ORDER BY attname::text) FROM pg_attribute
                                    WHERE attrelid = 'vals'::regclass AND attnum > 0 AND NOT attisdropped);
SELECT count(*) FILTER (WHERE data LIKE '%dropme%' OR data LIKE '%pg.dropped%' OR data LIKE '%"gone"%') AS dropped_seen
FROM records;

-- CREATE: after equals to_jsonb() of the row as inserted.
SELECT r->>'primary_key' AS id, r->'after' = e.j AS after_exact
FROM records JOIN expected_inserted e ON e.id = (r->>'primary_key')::int
WHERE r->>'operation' = 'CREATE' ORDER BY n;

-- The same key by key, so that a failure names the column (and so the type): no rows.
SELECT e.id, k AS column_name, r->'after'->k AS bemi, e.j->k AS to_jsonb
FROM records JOIN expected_inserted e ON e.id = (r->>'primary_key')::int,
     LATERAL (SELECT jsonb_object_keys(r->'after') UNION SELECT jsonb_object_keys(e.j)) keys(k)
WHERE r->>'operation' = 'CREATE' AND (r->'after'->k) IS DISTINCT FROM (e.j->k)
ORDER BY 1, 2;

-- UPDATE: after is the row now, before the row as inserted; DELETE: before is row 4.
SELECT n, r->>'operation' AS operation, r->>'primary_key' AS id,
       r->'after' = f.j AS after_exact, r->'before' = e.j AS before_exact
FROM records JOIN expected_inserted e ON e.id = (r->>'primary_key')::int
     LEFT JOIN expected_final f ON f.id = e.id
WHERE r->>'operation' IN ('UPDATE', 'DELETE') ORDER BY n;
-- And key by key: no rows.
SELECT e.id, r->>'operation' AS operation, k AS column_name, image, r->image->k AS bemi, x.j->k AS to_jsonb
FROM records JOIN expected_inserted e ON e.id = (r->>'primary_key')::int
     LEFT JOIN expected_final f ON f.id = e.id,
     LATERAL (VALUES ('before', e.j), ('after', coalesce(f.j, '{}'))) x(image, j),
     LATERAL (SELECT jsonb_object_keys(r->image) UNION SELECT jsonb_object_keys(x.j)) keys(k)
WHERE r->>'operation' IN ('UPDATE', 'DELETE') AND (r->image->k) IS DISTINCT FROM (x.j->k)
ORDER BY 1, 2, 3, 4;

-- Exactness that jsonb equality cannot see (it compares numbers by value): the numbers as
-- written in the record's text, every digit, floats in shortest exact form, -0 kept,
-- numeric's trailing zeros kept; NaN and the infinities as strings.
SELECT (r->>'primary_key')::int AS id, (regexp_match(data, '"c_float4":([^,}]*)'))[1] AS c_float4,
       (regexp_match(data, '"c_float8":([^,}]*)'))[1] AS c_float8,
       (regexp_match(data, '"c_numeric":([^,}]*)'))[1] AS c_numeric
FROM records
WHERE r->>'operation' = 'CREATE' ORDER BY 1;
SELECT regexp_match(data, '"c_numeric_arr":(\[[^]]*\])') AS numeric_arr_text_row_1,
       regexp_match(data, '"c_float_arr":(\[[^]]*\])') AS float_arr_text_row_1
FROM records WHERE n = 1;

-- The JSON types and the strings by type, for a few values worth seeing.
SELECT (r->'after'->>'id')::int AS id, jsonb_typeof(r->'after'->'c_json') AS json_type,
       r->'after'->'c_json' AS c_json, r->'after'->'c_jsonb' AS c_jsonb
FROM records WHERE r->>'operation' = 'CREATE' AND (r->'after'->>'id')::int <= 4 ORDER BY 1;
-- json is embedded as written (duplicate keys, spacing), its line breaks turned into spaces.
SELECT regexp_match(data, '"c_json":(.*),"c_jsonb"') AS json_text_row_1 FROM records WHERE n = 1;
SELECT (r->'after'->>'id')::int AS id, r->'after'->'c_date' AS c_date, r->'after'->'c_ts' AS c_ts,
       r->'after'->'c_tstz' AS c_tstz, r->'after'->'c_time' AS c_time, r->'after'->'c_timetz' AS c_timetz,
       r->'after'->'c_interval' AS c_interval
FROM records WHERE r->>'operation' = 'CREATE' ORDER BY 1;
SELECT (r->'after'->>'id')::int AS id, r->'after'->'c_bytea' AS c_bytea, r->'after'->'c_money' AS c_money,
       r->'after'->'c_qchar' AS c_qchar, r->'after'->'c_oid' AS c_oid, r->'after'->'c_point' AS c_point,
       r->'after'->'c_tstzrange' AS c_tstzrange
FROM records WHERE r->>'operation' = 'CREATE' AND (r->'after'->>'id')::int <= 4 ORDER BY 1;
SELECT r->'after'->'c_text' = to_jsonb('ctl:' || (SELECT string_agg(chr(i), '' ORDER BY i) FROM generate_series(1, 31) i)
            || chr(127) || ' quote" apos'' back\slash /solidus emoji 😀👍🏽 combining e' || chr(769)
            || ' cjk 漢字 bom' || chr(65279) || ' ls' || chr(8232) || ' nbsp' || chr(160)) AS text_exact,
       r->'after'->'c_char' AS c_char, r->'after'->'c_comp' AS c_comp, r->'after'->'c_comp_arr' AS c_comp_arr
FROM records WHERE n = 1;

-- jsonb_populate_record gives the row back: compared column by column as text, CREATE with
-- the row as inserted, UPDATE with the row now. The only differences are the ones jsonb itself
-- makes: json text is normalized (duplicate keys, spacing; also inside the composite) and
-- -0 becomes 0; those columns are equal as values.
CREATE TEMP VIEW populated AS
SELECT n, r->>'operation' AS operation, p AS populated, o AS original
FROM records
JOIN LATERAL jsonb_populate_record(NULL::vals, r->'after') p ON true
JOIN LATERAL (SELECT i.row FROM vals_inserted i WHERE r->>'operation' = 'CREATE' AND (i.row).id = p.id
              UNION ALL
              SELECT v FROM vals v WHERE r->>'operation' = 'UPDATE' AND v.id = p.id) o(o) ON true;
SELECT count(*) AS rows_compared, count(*) FILTER (WHERE (populated).id = (original).id) AS same_id FROM populated;
SELECT (original).id, operation, c.key AS column_name, c.value AS populated, o.value AS original,
       CASE c.key WHEN 'c_json' THEN (populated).c_json::jsonb = (original).c_json::jsonb
                  WHEN 'c_float4' THEN (populated).c_float4 = (original).c_float4
                  WHEN 'c_float8' THEN (populated).c_float8 = (original).c_float8
                  WHEN 'c_float_arr' THEN (populated).c_float_arr = (original).c_float_arr
                  WHEN 'c_comp' THEN ((populated).c_comp).j::jsonb = ((original).c_comp).j::jsonb
                                     AND to_jsonb((populated).c_comp) - 'j' = to_jsonb((original).c_comp) - 'j'
       END AS equal_as_values
FROM populated,
     LATERAL json_each_text(row_to_json(populated)) c,
     LATERAL json_each_text(row_to_json(original)) o
WHERE c.key = o.key AND c.value IS DISTINCT FROM o.value
ORDER BY 1, 2, 3;

-- Sample records: the row of NULLs, and row 2.
SELECT r - '{transaction_id,position,commit_position,committed_at}'::text[] AS record
FROM records WHERE r->>'operation' = 'CREATE' AND r->>'primary_key' = '11';
SELECT jsonb_pretty(r - '{transaction_id,position,commit_position,committed_at}'::text[]) AS record
FROM records WHERE r->>'operation' = 'CREATE' AND r->>'primary_key' = '2';

----------------------------------------------------------------------------------------------
-- A user-defined type with a cast to json is converted by that cast, as to_jsonb() does.
CREATE TYPE color AS ENUM ('red', 'green', 'blue');
CREATE FUNCTION color_to_json(color) RETURNS json LANGUAGE sql IMMUTABLE STRICT
    -- Qualified: decoding runs casts under search_path = pg_catalog, pg_temp.
    AS $$ SELECT json_build_object('color', $1::text, 'rank', array_position(enum_range(NULL::public.color), $1)) $$;
CREATE CAST (color AS json) WITH FUNCTION color_to_json(color);
CREATE TYPE palette AS (main color, alts color[], label text);
CREATE DOMAIN color_d AS color CHECK (VALUE <> 'blue');
-- Only a cast with a function counts (to_jsonb() ignores WITH INOUT): the text, as a string.
CREATE TYPE io_enum AS ENUM ('in', 'out');
CREATE CAST (io_enum AS json) WITH INOUT;
-- A cast that fails for some values: the change is still recorded, with the text form.
CREATE TYPE risky AS ENUM ('fine', 'boom');
CREATE FUNCTION risky_to_json(risky) RETURNS json LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    IF $1 = 'boom' THEN
        RAISE EXCEPTION 'risky_to_json cannot convert %', $1;
    END IF;
    RETURN json_build_object('risky', $1::text);
END $$;
CREATE CAST (risky AS json) WITH FUNCTION risky_to_json(risky);
CREATE TYPE risky_box AS (r risky, n integer);

CREATE TABLE casts (id integer PRIMARY KEY, c color, ca color[], cp palette, cpa palette[], cd color_d,
                    io io_enum, rv risky, rva risky[], rvb risky_box, note text);
BEGIN;
INSERT INTO casts VALUES
    (1, 'green', '{red,NULL,blue}', ROW('blue', '{green,red}', 'p1'), ARRAY[ROW('red', '{}', 'q')::palette], 'red', 'in',
        'fine', '{fine,fine}', ROW('fine', 1), 'all fine'),
    (2, 'red', '{}', ROW(NULL, NULL, NULL), '{}', 'green', 'out',
        'boom', '{fine,boom}', ROW('boom', 2), 'cast fails'),
    (3, 'blue', '{green}', NULL, NULL, NULL, NULL,
        'boom', '{boom}', ROW('boom', 3), 'fails again: warned once per column only'),
    (4, 'green', '{blue}', ROW('red', NULL, 'p4'), NULL, 'green', 'in',
        'fine', '{fine}', ROW('fine', 4), 'fine after a failure');
COMMIT;

-- One WARNING per failing column (rv, rva, rvb) for this decoding session.
CREATE TEMP TABLE cast_records AS
SELECT row_number() OVER () AS n, data, data::jsonb AS r
FROM pg_logical_slot_peek_changes('regression_slot_values', NULL, NULL)
WHERE data::jsonb->>'table' = 'casts';

SELECT r->>'primary_key' AS id, r->'after' = (SELECT to_jsonb(x) FROM casts x WHERE x.id = (r->>'primary_key')::int) AS after_exact
FROM cast_records WHERE r->>'primary_key' IN ('1', '4') ORDER BY n;
-- The working cast in a column, an array, a composite, an array of composites and a domain;
-- WITH INOUT is no json cast.
SELECT r->>'primary_key' AS id, r->'after'->'c' AS c, r->'after'->'ca' AS ca, r->'after'->'cp' AS cp, r->'after'->'cpa' AS cpa
FROM cast_records ORDER BY n;
SELECT r->>'primary_key' AS id, r->'after'->'cd' AS cd, r->'after'->'io' AS io FROM cast_records ORDER BY n;
-- The failing cast: the text output, as a string (to_jsonb() itself fails on these rows).
SELECT r->>'primary_key' AS id, r->'after'->'rv' AS rv, r->'after'->'rva' AS rva, r->'after'->'rvb' AS rvb,
       (r->'after') - '{rv,rva,rvb}'::text[] = (SELECT to_jsonb(y) FROM (SELECT id, c, ca, cp, cpa, cd, io, note FROM casts) y
                                              WHERE y.id = (r->>'primary_key')::int) AS other_columns_exact
FROM cast_records ORDER BY n;
SELECT r->'after'->'rv' = to_jsonb('boom'::risky::text) AND r->'after'->'rva' = to_jsonb('{fine,boom}'::risky[]::text)
       AND r->'after'->'rvb' = to_jsonb(ROW('boom', 2)::risky_box::text) AS text_forms
FROM cast_records WHERE r->>'primary_key' = '2';
-- to_jsonb() itself fails on such a row (so the record cannot be produced by it):
SELECT to_jsonb(x) FROM casts x WHERE id = 2;
SELECT r - '{transaction_id,position,commit_position,committed_at}'::text[] AS record
FROM cast_records WHERE r->>'primary_key' = '2';

-- Decoding again warns again (once per column for each decoding session).
SELECT count(*) AS records_again FROM pg_logical_slot_peek_changes('regression_slot_values', NULL, NULL)
WHERE data::jsonb->>'table' = 'casts';

SELECT 'stop' FROM pg_drop_replication_slot('regression_slot_values');
DROP VIEW populated;
DROP TABLE vals_inserted, vals, casts;
DROP CAST (color AS json);
DROP CAST (risky AS json);
DROP CAST (io_enum AS json);
DROP FUNCTION color_to_json(color), risky_to_json(risky);
DROP TYPE outer_c, inner_c, palette, risky_box;
DROP DOMAIN color_d, posint, short_text;
DROP TYPE mood, color, io_enum, risky;
