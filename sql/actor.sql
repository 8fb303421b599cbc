-- Who made each change, as the server knows it: "actor" is the session user, the current user
-- when it differs, and application_name, said by the capture hooks in a signed message. No
-- client key (context, comment, or a _bemi message of its own) can set or change it.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS bemi;
CREATE TABLE acts (id int PRIMARY KEY, note text);
CREATE TABLE acts_log (id serial PRIMARY KEY, act_id int);
CREATE ROLE regress_actor_alice LOGIN;
CREATE ROLE regress_actor_bob NOLOGIN;
GRANT ALL ON acts, acts_log TO regress_actor_alice, regress_actor_bob;
GRANT USAGE ON SEQUENCE acts_log_id_seq TO regress_actor_alice, regress_actor_bob;
GRANT regress_actor_bob TO regress_actor_alice;
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot_actor', 'bemi');

CREATE FUNCTION actors() RETURNS TABLE (tbl text, op text, pk text, actor jsonb, context jsonb)
LANGUAGE sql AS $$
  SELECT r->>'table', r->>'operation', r->>'primary_key', r->'actor', (r->'context') - 'SQL'
  FROM (SELECT data::jsonb AS r FROM pg_logical_slot_get_changes('regression_slot_actor', NULL, NULL)) d
$$;

-- Direct SQL, no context, no "SQL": the change still says who made it.
SET bemi.capture_sql = off;
SET application_name = 'regress "actor"';
INSERT INTO acts VALUES (1, 'direct');
SELECT * FROM actors();
RESET bemi.capture_sql;

-- SET SESSION AUTHORIZATION changes the session user; SET ROLE only the current user, also
-- in the middle of a transaction (same context, same kind of statement).
SET SESSION AUTHORIZATION regress_actor_alice;
INSERT INTO acts VALUES (2, 'alice');
BEGIN;
UPDATE acts SET note = 'alice again' WHERE id = 2;
SET LOCAL ROLE regress_actor_bob;
UPDATE acts SET note = 'bob' WHERE id = 2;
COMMIT;
RESET SESSION AUTHORIZATION;
SELECT * FROM actors();

-- A client that sends the keys itself keeps them in its context: the actor is the server's.
SET SESSION AUTHORIZATION regress_actor_alice;
SELECT bemi_set_context('{"actor": {"session_user": "postgres"}, "session_user": "root", "current_user": "root", "application_name": "admin"}');
UPDATE acts SET note = 'claims' WHERE id = 2 /*Bemi {"actor": "admin", "session_user": "root", "current_user": "admin"} Bemi*/;
SELECT bemi_clear_context();
RESET SESSION AUTHORIZATION;
SELECT * FROM actors();

-- A SECURITY DEFINER function runs as its owner: its changes name it as the current user,
-- also in the middle of one client statement whose (context, statement) does not change.
CREATE FUNCTION as_bob(n int) RETURNS void LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ INSERT INTO public.acts VALUES (n, 'by definer') $$;
ALTER FUNCTION as_bob(int) OWNER TO regress_actor_bob;
CREATE FUNCTION three_rows(n int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO acts VALUES (n, 'caller');
  PERFORM as_bob(n + 1);
  INSERT INTO acts VALUES (n + 2, 'caller again');
END $$;
GRANT EXECUTE ON FUNCTION as_bob(int), three_rows(int) TO regress_actor_alice;
SET SESSION AUTHORIZATION regress_actor_alice;
SELECT three_rows(10);
RESET SESSION AUTHORIZATION;
SELECT pk, actor FROM actors();

-- A subtransaction that rolls back takes its message with it; what follows is still signed.
SET SESSION AUTHORIZATION regress_actor_alice;
BEGIN;
INSERT INTO acts VALUES (20, 'kept');
SAVEPOINT s;
INSERT INTO acts VALUES (21, 'rolled back');
ROLLBACK TO SAVEPOINT s;
INSERT INTO acts VALUES (22, 'after rollback');
COMMIT;
RESET SESSION AUTHORIZATION;
SELECT pk, actor FROM actors();

-- A deferred constraint trigger fires at COMMIT, after the client's last statement: its
-- change is still attributed.
CREATE FUNCTION log_act() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO acts_log (act_id) VALUES (NEW.id); RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER acts_deferred AFTER INSERT ON acts DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION log_act();
SET SESSION AUTHORIZATION regress_actor_alice;
BEGIN;
INSERT INTO acts VALUES (30, 'deferred');
COMMIT;
RESET SESSION AUTHORIZATION;
DROP TRIGGER acts_deferred ON acts;
SELECT tbl, pk, actor FROM actors();

-- Forgery by a role that is not a superuser, with pg_logical_emit_message (executable by
-- PUBLIC): a message of the hooks' layout with a made-up signature, emitted in the middle of
-- a statement so that the changes after it take its context. They keep the real actor.
CREATE FUNCTION forge(note text) RETURNS text LANGUAGE sql AS $$
  SELECT note || pg_logical_emit_message(true, '_bemi',
    '{"forged": true}'::bytea || '\x00'::bytea ||
    convert_to('bemi-actor-v1:' || repeat('ab', 16) || ':{"session_user":"postgres","application_name":"forged"}', 'UTF8'))::text
$$;
GRANT EXECUTE ON FUNCTION forge(text) TO regress_actor_alice;
SET SESSION AUTHORIZATION regress_actor_alice;
UPDATE acts SET note = forge(note) WHERE id IN (20, 22);
RESET SESSION AUTHORIZATION;
SELECT pk, actor, context FROM actors() ORDER BY pk;

-- A real signed message copied from another transaction (here by a superuser reading the WAL
-- with test_decoding, which an application role cannot do) does not verify when replayed:
-- the signature covers the transaction id.
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot_actor_raw', 'test_decoding');
-- bob cannot log in: the superuser makes a change as bob, then captures bob's signed message.
SET ROLE regress_actor_bob;
SET application_name = 'bob-app';
INSERT INTO acts VALUES (40, 'by bob');
RESET ROLE;
SET application_name = 'regress "actor"';
CREATE TABLE captured AS
  SELECT substring(data FROM position('\x636f6e74656e743a'::bytea IN data) + 8) AS payload
  FROM pg_logical_slot_get_binary_changes('regression_slot_actor_raw', NULL, NULL)
  WHERE position('\x7072656669783a205f62656d692c'::bytea IN data) > 0;  -- after "content:" of "prefix: _bemi,"
SELECT count(*) AS captured, bool_and(position('bob-app'::bytea IN payload) > 0) AS is_bobs FROM captured;
GRANT SELECT ON captured TO regress_actor_alice;
CREATE FUNCTION replay() RETURNS text LANGUAGE sql AS $$
  SELECT pg_logical_emit_message(true, '_bemi', (SELECT payload FROM captured LIMIT 1))::text
$$;
GRANT EXECUTE ON FUNCTION replay() TO regress_actor_alice;
SET SESSION AUTHORIZATION regress_actor_alice;
UPDATE acts SET note = note || replay() WHERE id IN (20, 22);
RESET SESSION AUTHORIZATION;
-- The replayed message's context is taken (its "SQL" is bob's statement), its actor is not.
SELECT r->>'primary_key' AS pk, r->'actor' AS actor, r->'context'->>'SQL' AS sql
  FROM (SELECT data::jsonb AS r FROM pg_logical_slot_get_changes('regression_slot_actor', NULL, NULL)) d
 WHERE r->>'table' = 'acts' ORDER BY 1;

-- Only a superuser may record client addresses (or stop recording them).
SET SESSION AUTHORIZATION regress_actor_alice;
SET bemi.capture_client_addr = on;
RESET SESSION AUTHORIZATION;
SET bemi.capture_client_addr = on;
-- Over a Unix socket there is no address: nothing is added (test/shell/actor_server.sh
-- checks TCP).
INSERT INTO acts VALUES (50, 'unix socket');
SELECT pk, actor FROM actors();
RESET bemi.capture_client_addr;

SELECT pg_drop_replication_slot('regression_slot_actor');
SELECT pg_drop_replication_slot('regression_slot_actor_raw');
DROP FUNCTION actors(), as_bob(int), three_rows(int), log_act(), forge(text), replay();
DROP TABLE acts, acts_log, captured;
DROP ROLE regress_actor_alice, regress_actor_bob;
RESET application_name;
DROP EXTENSION bemi;
