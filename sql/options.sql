-- Options are validated when decoding starts: unknown names and bad values are a clear
-- ERROR with a hint, and a failed start leaves the slot where it was.
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot_options', 'bemi');
CREATE TABLE opt_t (id int PRIMARY KEY);
INSERT INTO opt_t VALUES (1);

SELECT count(*) FROM pg_logical_slot_get_changes('regression_slot_options', NULL, NULL, 'no-such-option', '1');
SELECT count(*) FROM pg_logical_slot_get_changes('regression_slot_options', NULL, NULL, 'include-transaction', 'maybe');
SELECT count(*) FROM pg_logical_slot_get_changes('regression_slot_options', NULL, NULL, 'include-messages', '');
SELECT count(*) FROM pg_logical_slot_get_changes('regression_slot_options', NULL, NULL, 'max-context-bytes', 'lots');
SELECT count(*) FROM pg_logical_slot_get_changes('regression_slot_options', NULL, NULL, 'max-context-bytes', '-5');
SELECT count(*) FROM pg_logical_slot_get_changes('regression_slot_options', NULL, NULL, 'max-context-bytes', '1');
SELECT count(*) FROM pg_logical_slot_get_changes('regression_slot_options', NULL, NULL, 'max-context-bytes', '99999999999999999999999');
SELECT count(*) FROM pg_logical_slot_get_changes('regression_slot_options', NULL, NULL, 'include-tables', 'no_dot');
SELECT count(*) FROM pg_logical_slot_get_changes('regression_slot_options', NULL, NULL, 'include-tables', 'public.a,,public.b');
SELECT count(*) FROM pg_logical_slot_get_changes('regression_slot_options', NULL, NULL, 'exclude-tables', 'public.t\');

-- Nothing was consumed by the failed calls.
SELECT data::jsonb->>'operation' AS op FROM pg_logical_slot_peek_changes('regression_slot_options', NULL, NULL);

-- Valid spellings: booleans in PostgreSQL's forms, whitespace around patterns.
SELECT count(*) FROM pg_logical_slot_peek_changes('regression_slot_options', NULL, NULL,
  'include-transaction', 'on', 'include-messages', 'FALSE', 'max-context-bytes', '1024',
  'include-tables', ' public.* , other.x ', 'exclude-tables', 'public.nothing_*');

-- Creating a slot with two_phase is refused: bemi emits transactions at COMMIT PREPARED.
SELECT 'init' FROM pg_create_logical_replication_slot('regression_slot_two_phase', 'bemi', false, true);
SELECT count(*) AS two_phase_slots FROM pg_replication_slots WHERE slot_name = 'regression_slot_two_phase';

SELECT pg_drop_replication_slot('regression_slot_options');
DROP TABLE opt_t;
