-- Changes replayed under bemi's own ingestion origin are skipped (so ingestion never feeds
-- itself); changes under any other origin, and changes to any table without one, are kept.
SET client_min_messages = warning;
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot_origins', 'bemi');
CREATE TABLE origin_t (id int PRIMARY KEY, who text);
SELECT 'created' FROM pg_replication_origin_create('bemi_ingest_regression');
SELECT 'created' FROM pg_replication_origin_create('some_subscription');

SELECT 'setup' FROM pg_replication_origin_session_setup('bemi_ingest_regression');
BEGIN;
SELECT 'msg' FROM pg_logical_emit_message(true, '_bemi', '{"from": "ingestion"}');
INSERT INTO origin_t VALUES (1, 'ingestion');
COMMIT;
SELECT 'reset' FROM pg_replication_origin_session_reset();

SELECT 'setup' FROM pg_replication_origin_session_setup('some_subscription');
INSERT INTO origin_t VALUES (2, 'subscription');
SELECT 'reset' FROM pg_replication_origin_session_reset();

INSERT INTO origin_t VALUES (3, 'application');

SELECT data::jsonb->'after'->>'who' AS who, data::jsonb->'context' AS context, data::jsonb->>'seq' AS seq
FROM pg_logical_slot_get_changes('regression_slot_origins', NULL, NULL);

SELECT pg_drop_replication_slot('regression_slot_origins');
SELECT pg_replication_origin_drop('bemi_ingest_regression');
SELECT pg_replication_origin_drop('some_subscription');
DROP TABLE origin_t;
