-- Error helpers shared by every function. They put the object's table in the error's TABLE
-- field, so clients (the HTTP sidecar among them) can tell a missing queue from a missing
-- message by SQLSTATE plus table, without parsing message text.

CREATE FUNCTION psqlqueue.raise_not_found(kind text, id text, parent_kind text DEFAULT NULL, parent_id text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'no_data_found',
        MESSAGE = CASE WHEN parent_kind IS NULL
                       THEN format('%s "%s" not found', kind, id)
                       ELSE format('%s "%s" not found in %s "%s"', kind, id, parent_kind, parent_id) END,
        TABLE = kind || 's';
END
$$;
COMMENT ON FUNCTION psqlqueue.raise_not_found(text, text, text, text) IS
    'Internal: raises SQLSTATE P0002 for a missing queue, message, topic or subscription; TABLE names its table.';

CREATE FUNCTION psqlqueue.raise_exists(kind text, id text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'unique_violation',
        MESSAGE = format('%s "%s" already exists', kind, id),
        TABLE = kind || 's';
END
$$;
COMMENT ON FUNCTION psqlqueue.raise_exists(text, text) IS
    'Internal: raises SQLSTATE 23505 for a queue, topic or subscription that already exists; TABLE names its table.';

CREATE FUNCTION psqlqueue.raise_invalid(field text, rule text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'invalid_parameter_value',
        MESSAGE = format('invalid %s: %s', field, rule),
        COLUMN = field;
END
$$;
COMMENT ON FUNCTION psqlqueue.raise_invalid(text, text) IS
    'Internal: raises SQLSTATE 22023 naming the argument (also in the COLUMN field) and the rule it broke.';
