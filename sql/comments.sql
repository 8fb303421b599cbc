-- The /*Bemi ... Bemi*/ marker counts only as a real comment that ends its statement: never
-- inside a string literal, a quoted identifier or another comment (issue 6, reproduction 5:
-- drivers that interpolate values client-side let an end user's text carry a marker).
-- "SQL" is the statement without its marker.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS bemi;
CREATE TABLE x (id serial PRIMARY KEY, note text);
CREATE TABLE "/*Bemi {""user_id"": 1} Bemi*/" (id int);
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot_comments', 'bemi');
CREATE FUNCTION changes() RETURNS TABLE (op text, note text, context jsonb, sql text)
LANGUAGE sql AS $$
  SELECT r->>'operation', coalesce(r->'after'->>'note', r->'before'->>'note'), (r->'context') - 'SQL', r->'context'->>'SQL'
  FROM (SELECT data::jsonb AS r FROM pg_logical_slot_get_changes('regression_slot_comments', NULL, NULL)) d
$$;

-- The reproduction: the trailing comment's context, not the one in the literal.
INSERT INTO x(note) VALUES ('hello /*Bemi {"user_id": 1} Bemi*/') /*Bemi {"user_id": 187234, "endpoint": "/notes"} Bemi*/;
SELECT * FROM changes();
-- A marker only in data is no marker at all.
INSERT INTO x(note) VALUES ('hello /*Bemi {"user_id": 1} Bemi*/');
UPDATE x SET note = 'a' WHERE id = 2 AND note <> '/*Bemi {"user_id": 1} Bemi*/';
SELECT * FROM changes();

-- E'' strings: \' does not end the literal.
INSERT INTO x(note) VALUES (E'it\'s /*Bemi {"user_id": 1} Bemi*/ \\') /*Bemi {"user_id": 2} Bemi*/;
INSERT INTO x(note) VALUES (E'\' /*Bemi {"user_id": 1} Bemi*/');
-- Standard strings: a backslash is a plain character, the literal ends at the quote.
INSERT INTO x(note) VALUES ('C:\') /*Bemi {"user_id": 3} Bemi*/;
-- U&'' strings, $$ and $tag$ strings.
INSERT INTO x(note) VALUES (U&'\0041 /*Bemi {"user_id": 1} Bemi*/') /*Bemi {"user_id": 4} Bemi*/;
INSERT INTO x(note) VALUES ($$ /*Bemi {"user_id": 1} Bemi*/ $$) /*Bemi {"user_id": 5} Bemi*/;
INSERT INTO x(note) VALUES ($t$ $$ it's /*Bemi {"user_id": 1} Bemi*/ $t$) /*Bemi {"user_id": 6} Bemi*/;
INSERT INTO x(note) VALUES ($t$ /*Bemi {"user_id": 1} Bemi*/ $t$);
SELECT * FROM changes();

-- A quoted identifier; a marker inside another (nested) comment; a line comment.
INSERT INTO "/*Bemi {""user_id"": 1} Bemi*/" VALUES (1);
INSERT INTO x(note) VALUES ('nested') /* outer /*Bemi {"user_id": 1} Bemi*/ still outer */;
INSERT INTO x(note) VALUES ('line') -- /*Bemi {"user_id": 1} Bemi*/
;
-- Only the comment that ends the statement counts.
INSERT /*Bemi {"user_id": 1} Bemi*/ INTO x(note) VALUES ('leading');
INSERT INTO x(note) VALUES ('not last') /*Bemi {"user_id": 1} Bemi*/ /* another */;
-- A nested comment inside the marker is part of it.
INSERT INTO x(note) VALUES ('nested inside') /*Bemi {"user_id": 7, "why": "/* nested */"} Bemi*/;
SELECT * FROM changes();

-- A marker after the final ';' belongs to the statement (as the ORM packages send it). psql
-- would send a comment after ';' with the next query: '\;' keeps it in the same query string,
-- which the server then ends with an empty statement.
INSERT INTO x(note) VALUES ('after semicolon') \; /*Bemi {"user_id": 8} Bemi*/ ;
-- The marker must be the last comment: here a line comment follows it, so it does not count.
INSERT INTO x(note) VALUES ('after semicolons') \; \; /*Bemi {"user_id": 8} Bemi*/ \; -- done
;
SELECT * FROM changes();

-- Every statement of a multi-statement string: its own marker, from its start to the next
-- statement's start; a comment at the start of a statement is not its marker.
INSERT INTO x(note) VALUES ('one /*Bemi {"user_id": 1} Bemi*/') /*Bemi {"user_id": 9} Bemi*/ \; /*Bemi {"user_id": 1} Bemi*/ INSERT INTO x(note) VALUES ('two') /*Bemi {"user_id": 10} Bemi*/ \; INSERT INTO x(note) VALUES ('three') \; INSERT INTO x(note) VALUES ('four') \; /*Bemi {"user_id": 11} Bemi*/ ;
SELECT * FROM changes();

-- standard_conforming_strings off: '' strings take backslash escapes, as the server reads them.
SET standard_conforming_strings = off;
SET escape_string_warning = off;
INSERT INTO x(note) VALUES ('it\'s /*Bemi {"user_id": 1} Bemi*/') /*Bemi {"user_id": 12} Bemi*/;
INSERT INTO x(note) VALUES ('\' /*Bemi {"user_id": 1} Bemi*/');
RESET standard_conforming_strings;
RESET escape_string_warning;
SELECT * FROM changes();

SELECT pg_drop_replication_slot('regression_slot_comments');
DROP FUNCTION changes();
DROP TABLE x, "/*Bemi {""user_id"": 1} Bemi*/";
DROP EXTENSION bemi;
