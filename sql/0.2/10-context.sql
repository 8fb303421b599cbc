-- The context API. Implemented in C (src/pg/context_api.cpp); the public wrappers are the
-- same C functions under names ORMs can call without a schema.

CREATE FUNCTION bemi.set_context(context pg_catalog.jsonb, is_local pg_catalog.bool DEFAULT false)
    RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'bemi_set_context';
COMMENT ON FUNCTION bemi.set_context(pg_catalog.jsonb, pg_catalog.bool) IS
    'Sets the application context recorded with this session''s changes (is_local: this transaction only)';

CREATE FUNCTION bemi.get_context()
    RETURNS pg_catalog.jsonb LANGUAGE c VOLATILE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'bemi_get_context';
COMMENT ON FUNCTION bemi.get_context() IS
    'The application context in force: the transaction''s if set, else the session''s; {} when none';

CREATE FUNCTION bemi.clear_context(is_local pg_catalog.bool DEFAULT false)
    RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'bemi_clear_context';
COMMENT ON FUNCTION bemi.clear_context(pg_catalog.bool) IS
    'Clears the session''s context (is_local: only the transaction''s)';

CREATE FUNCTION public.bemi_set_context(context pg_catalog.jsonb, is_local pg_catalog.bool DEFAULT false)
    RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'bemi_set_context';
CREATE FUNCTION public.bemi_get_context()
    RETURNS pg_catalog.jsonb LANGUAGE c VOLATILE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'bemi_get_context';
CREATE FUNCTION public.bemi_clear_context(is_local pg_catalog.bool DEFAULT false)
    RETURNS void LANGUAGE c VOLATILE PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'bemi_clear_context';
