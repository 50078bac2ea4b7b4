-- Checks shared by the functions: ids, lease lengths, queue and dead-letter settings, pagination,
-- messages and token scopes. Each raises 22023 naming the argument and the rule (raise_invalid,
-- errors.sql). A rule lives here once; the table constraints that restate one (schema.sql,
-- auth.sql) say which, and a test holds the two to the same boundaries
-- (psqlqueue-ext/src/tests/checks.rs).

-- The id rule itself, as one expression: check_id words its error; token names and the names
-- in token scopes (auth.sql, check_scopes) follow the same rule and test it here.
CREATE FUNCTION psqlqueue.id_is_valid(id text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- SQL-standard body: inlined into its callers, its names bound at creation.
RETURN coalesce(id ~ '^[a-zA-Z0-9._-]{1,128}$', false);
COMMENT ON FUNCTION psqlqueue.id_is_valid(text) IS
    'Internal: whether id matches ^[a-zA-Z0-9._-]{1,128}$, the rule for queue, topic, subscription and token '
    'names (false for NULL); check_id says why not.';

CREATE FUNCTION psqlqueue.check_id(kind text, id text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT psqlqueue.id_is_valid(id) THEN
        PERFORM psqlqueue.raise_invalid(kind || '.id',
            format('must be 1 to 128 characters of a-z, A-Z, 0-9, ".", "_" or "-", got %s',
                   coalesce(quote_literal(left(id, 140)), 'null')));
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_id(text, text) IS
    'Internal: raises 22023 unless id matches ^[a-zA-Z0-9._-]{1,128}$ (the rule for queue, topic and subscription ids).';

-- A lease lasts at most 12 hours, whether it is a queue's ack deadline, a nack's visibility
-- timeout or an extension.
CREATE FUNCTION psqlqueue.check_lease_seconds(field text, seconds int, minimum int)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF seconds IS NULL OR seconds NOT BETWEEN minimum AND 43200 THEN
        PERFORM psqlqueue.raise_invalid(field,
            format('must be between %s and 43200 (12 hours), got %s', minimum, coalesce(seconds::text, 'null')));
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_lease_seconds(text, int, int) IS
    'Internal: raises 22023 naming field unless minimum <= seconds <= 43200 (the longest lease, 12 hours).';

CREATE FUNCTION psqlqueue.check_queue_settings(ack_deadline_seconds int, message_retention_seconds int, delivery_delay_seconds int)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM psqlqueue.check_lease_seconds('ack_deadline_seconds', ack_deadline_seconds, 1);
    IF message_retention_seconds IS NULL OR message_retention_seconds NOT BETWEEN 1 AND 1209600 THEN
        PERFORM psqlqueue.raise_invalid('message_retention_seconds',
            format('must be between 1 and 1209600 (14 days), got %s', coalesce(message_retention_seconds::text, 'null')));
    END IF;
    IF delivery_delay_seconds IS NULL OR delivery_delay_seconds < 0
       OR delivery_delay_seconds >= message_retention_seconds THEN
        PERFORM psqlqueue.raise_invalid('delivery_delay_seconds',
            format('must be 0 or more and less than message_retention_seconds (%s), got %s',
                   message_retention_seconds, coalesce(delivery_delay_seconds::text, 'null')));
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_queue_settings(int, int, int) IS
    'Internal: raises 22023 unless 1 <= ack deadline <= 43200, 1 <= retention <= 1209600 and 0 <= delay < retention.';

-- Dead-letter settings: both or neither; the target is another queue that exists (locked
-- against deletion until the caller commits, as the foreign key would).
CREATE FUNCTION psqlqueue.check_dead_letter(queue_id text, max_delivery_attempts int, dead_letter_queue_id text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF (max_delivery_attempts IS NULL) <> (dead_letter_queue_id IS NULL) THEN
        PERFORM psqlqueue.raise_invalid(
            CASE WHEN max_delivery_attempts IS NULL THEN 'max_delivery_attempts' ELSE 'dead_letter_queue_id' END,
            'max_delivery_attempts and dead_letter_queue_id are set together or not at all');
    END IF;
    IF max_delivery_attempts NOT BETWEEN 1 AND 1000 THEN
        PERFORM psqlqueue.raise_invalid('max_delivery_attempts',
            format('must be between 1 and 1000, got %s', max_delivery_attempts));
    END IF;
    IF dead_letter_queue_id = queue_id THEN
        PERFORM psqlqueue.raise_invalid('dead_letter_queue_id', 'must name another queue, not the queue itself');
    END IF;
    IF dead_letter_queue_id IS NOT NULL THEN
        PERFORM FROM psqlqueue.queues AS q WHERE q.id = check_dead_letter.dead_letter_queue_id FOR KEY SHARE;
        IF NOT FOUND THEN
            PERFORM psqlqueue.raise_invalid('dead_letter_queue_id',
                format('queue %s does not exist', quote_literal(left(dead_letter_queue_id, 140))));
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_dead_letter(text, int, text) IS
    'Internal: raises 22023 unless max_delivery_attempts (1..1000) and dead_letter_queue_id are both NULL or both '
    'set, naming an existing queue other than queue_id (which it locks FOR KEY SHARE).';

CREATE FUNCTION psqlqueue.check_deduplication_window(seconds int)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF seconds IS NULL OR seconds NOT BETWEEN 0 AND 1209600 THEN
        PERFORM psqlqueue.raise_invalid('deduplication_window_seconds',
            format('must be between 0 (off) and 1209600 (14 days), got %s', coalesce(seconds::text, 'null')));
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_deduplication_window(int) IS
    'Internal: raises 22023 unless 0 <= seconds <= 1209600 (a queue''s or topic''s deduplication window).';

-- A message's own options (send, send_batch, publish): a delay instead of the queue's, a
-- deduplication id and an ordered group. field_prefix names the batch element in errors.
-- The delay's upper bound that depends on the queue (less than its retention) is checked by
-- the INSERT that reads the queue.
CREATE FUNCTION psqlqueue.send_options_are_valid(delay_seconds int, deduplication_id text, group_id text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
-- SQL-standard body, a scalar expression: inlined into the caller's IF (see message_is_valid).
RETURN coalesce(delay_seconds BETWEEN 0 AND 1209600, true)
   AND coalesce(length(deduplication_id) BETWEEN 1 AND 128, true)
   AND coalesce(length(group_id) BETWEEN 1 AND 128, true);
COMMENT ON FUNCTION psqlqueue.send_options_are_valid(int, text, text) IS
    'Internal: true when check_send_options would accept the options (its fast path).';

CREATE FUNCTION psqlqueue.check_send_options(delay_seconds int, deduplication_id text, group_id text,
                                             field_prefix text DEFAULT '')
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF delay_seconds NOT BETWEEN 0 AND 1209600 THEN
        PERFORM psqlqueue.raise_invalid(field_prefix || 'delay_seconds',
            format('must be between 0 and 1209600 (14 days) and less than the queue''s retention, got %s', delay_seconds));
    END IF;
    IF length(deduplication_id) NOT BETWEEN 1 AND 128 THEN
        PERFORM psqlqueue.raise_invalid(field_prefix || 'deduplication_id',
            format('must be 1 to 128 characters, got %s', length(deduplication_id)));
    END IF;
    IF length(group_id) NOT BETWEEN 1 AND 128 THEN
        PERFORM psqlqueue.raise_invalid(field_prefix || 'group_id',
            format('must be 1 to 128 characters, got %s', length(group_id)));
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_send_options(int, text, text, text) IS
    'Internal: raises 22023 unless delay_seconds (0..1209600), deduplication_id and group_id (1 to 128 '
    'characters each) are NULL or valid.';

-- Offset/limit pagination is checked the same way by every list function.
CREATE FUNCTION psqlqueue.check_page("offset" int, "limit" int)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF "offset" IS NULL OR "offset" < 0 THEN
        PERFORM psqlqueue.raise_invalid('offset', format('must be 0 or more, got %s', coalesce("offset"::text, 'null')));
    END IF;
    IF "limit" IS NULL OR "limit" NOT BETWEEN 1 AND 1000 THEN
        PERFORM psqlqueue.raise_invalid('limit', format('must be between 1 and 1000, got %s', coalesce("limit"::text, 'null')));
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_page(int, int) IS
    'Internal: validates list pagination (offset >= 0, 1 <= limit <= 1000), raising 22023.';

-- Message limits (documented in the README, "Limits"): body 1 to 1,048,576 bytes; label at
-- most 128 characters; attributes a JSON object of at most 100 string values, names 1 to 256
-- characters, values at most 1,024 characters. They live here, in SQL, so SQL callers and the
-- sidecar get the same answer; check_message words the error, message_is_valid is its fast path.
CREATE FUNCTION psqlqueue.check_message(body text, label text, attributes jsonb)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    attribute_count bigint;
    problems text;
BEGIN
    IF body IS NULL OR body = '' THEN
        PERFORM psqlqueue.raise_invalid('body', 'must be non-empty text');
    END IF;
    IF octet_length(body) > 1048576 THEN
        PERFORM psqlqueue.raise_invalid('body', format('must be at most 1048576 bytes, got %s', octet_length(body)));
    END IF;
    IF length(label) > 128 THEN
        PERFORM psqlqueue.raise_invalid('label', format('must be at most 128 characters, got %s', length(label)));
    END IF;
    IF attributes IS NULL THEN
        RETURN;
    END IF;
    IF jsonb_typeof(attributes) <> 'object' THEN
        PERFORM psqlqueue.raise_invalid('attributes',
            format('must be a JSON object of string values, got a JSON %s', jsonb_typeof(attributes)));
    END IF;
    attribute_count := (SELECT count(*) FROM jsonb_object_keys(attributes));
    IF attribute_count > 100 THEN
        PERFORM psqlqueue.raise_invalid('attributes', format('must have at most 100 attributes, got %s', attribute_count));
    END IF;
    -- Every problem at once, attribute names cut to 64 characters so the message stays short.
    SELECT string_agg(format('%s %s', quote_ident(left(a.key, 64)),
                             CASE WHEN jsonb_typeof(a.value) <> 'string' THEN format('is a JSON %s', jsonb_typeof(a.value))
                                  WHEN length(a.key) NOT BETWEEN 1 AND 256 THEN format('has a name of %s characters (1 to 256)', length(a.key))
                                  ELSE format('has a value of %s characters (at most 1024)', length(a.value #>> '{}')) END),
                      ', ' ORDER BY a.key)
      INTO problems
      FROM jsonb_each(attributes) AS a
     WHERE jsonb_typeof(a.value) <> 'string' OR length(a.key) NOT BETWEEN 1 AND 256 OR length(a.value #>> '{}') > 1024;
    IF problems IS NOT NULL THEN
        PERFORM psqlqueue.raise_invalid('attributes', 'values must be strings of at most 1024 characters, names 1 to 256 characters; ' || problems);
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_message(text, text, jsonb) IS
    'Internal: raises 22023 unless body is 1 to 1048576 bytes, label has at most 128 characters and attributes is '
    'NULL or a flat JSON object of at most 100 string values (names 1 to 256 characters, values at most 1024).';

CREATE FUNCTION psqlqueue.message_is_valid(body text, label text, attributes jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE
-- check_message's rules as one expression. A scalar expression with no subquery is inlined into
-- the caller's IF, which PL/pgSQL then evaluates without starting a query: a valid message
-- costs no validation statement. The body is SQL-standard (RETURN), so its names are bound when
-- the extension is created and no search_path at call time can redirect them; a SET clause
-- would do the same but would stop the inlining. Strict jsonpath, because lax mode would unwrap
-- an array value and see the strings inside it. Attributes whose JSON text is at most 256 bytes
-- (nearly all) meet every length and count limit by that alone (no name or value can be longer,
-- and each pair takes at least 9 bytes), which is far cheaper than measuring them; longer ones
-- are measured, with regular expressions that repeat at most 255 times (PostgreSQL's limit),
-- hence the lengths written as sums of shorter runs.
RETURN body IS NOT NULL AND body <> '' AND octet_length(body) <= 1048576
   AND coalesce(length(label), 0) <= 128
   AND (attributes IS NULL
        OR (jsonb_typeof(attributes) = 'object'
            AND NOT attributes @? 'strict $.* ? (@.type() != "string")'
            AND NOT attributes ? ''
            AND (octet_length(attributes::text) <= 256
                 OR (NOT attributes @? 'strict $.keyvalue() ? (!(@.key like_regex "^.{1,128}.{0,128}$" flag "s")
                                         || !(@.value like_regex "^.{0,255}.{0,255}.{0,255}.{0,255}.{0,4}$" flag "s"))'
                     AND jsonb_array_length(jsonb_path_query_array(attributes, 'strict $.*')) <= 100))));
COMMENT ON FUNCTION psqlqueue.message_is_valid(text, text, jsonb) IS
    'Internal: true when check_message would accept the message (its fast path; check_message says why not).';

-- send_batch's input: a JSON array of 1 to 1000 objects with send's fields. send_batch checks
-- it at once with batch_message_is_valid over its elements (one query); check_batch_messages
-- names the first bad element (by its 0-based index) and what is wrong with it.
CREATE FUNCTION psqlqueue.batch_message_is_valid(m jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE
-- SQL-standard body, inlined into send_batch's query over the elements. The jsonpath operators
-- answer false, not an error, for a value of the wrong type.
RETURN jsonb_typeof(m) = 'object'
   AND m - ARRAY['body', 'label', 'attributes', 'delay_seconds', 'deduplication_id', 'group_id'] = '{}'
   AND jsonb_typeof(m -> 'body') = 'string'
   AND coalesce(jsonb_typeof(m -> 'label'), 'null') IN ('string', 'null')
   AND coalesce(jsonb_typeof(m -> 'attributes'), 'null') IN ('object', 'null')
   AND coalesce(jsonb_typeof(m -> 'deduplication_id'), 'null') IN ('string', 'null')
   AND coalesce(jsonb_typeof(m -> 'group_id'), 'null') IN ('string', 'null')
   AND (coalesce(jsonb_typeof(m -> 'delay_seconds'), 'null') = 'null'
        OR m @? '$.delay_seconds ? (@.type() == "number" && @ >= 0 && @ <= 1209600 && @ == @.floor())')
   AND psqlqueue.message_is_valid(m ->> 'body', m ->> 'label', nullif(m -> 'attributes', 'null'))
   AND coalesce(length(m ->> 'deduplication_id') BETWEEN 1 AND 128, true)
   AND coalesce(length(m ->> 'group_id') BETWEEN 1 AND 128, true);
COMMENT ON FUNCTION psqlqueue.batch_message_is_valid(jsonb) IS
    'Internal: true when one element of send_batch''s array is a valid message object.';

CREATE FUNCTION psqlqueue.check_batch_messages(messages jsonb)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    element record;
    prefix text;
    field text;
    wrong text;
    problem text;
BEGIN
    IF jsonb_typeof(messages) IS DISTINCT FROM 'array' THEN
        PERFORM psqlqueue.raise_invalid('messages',
            format('must be a JSON array of message objects, got %s', coalesce('a JSON ' || jsonb_typeof(messages), 'null')));
    END IF;
    IF jsonb_array_length(messages) NOT BETWEEN 1 AND 1000 THEN
        PERFORM psqlqueue.raise_invalid('messages',
            format('must hold 1 to 1000 messages, got %s', jsonb_array_length(messages)));
    END IF;
    FOR element IN SELECT e.m, e.i - 1 AS k FROM jsonb_array_elements(messages) WITH ORDINALITY AS e(m, i) ORDER BY e.i LOOP
        prefix := format('messages[%s].', element.k);
        IF jsonb_typeof(element.m) <> 'object' THEN
            PERFORM psqlqueue.raise_invalid(format('messages[%s]', element.k),
                format('must be a JSON object, got a JSON %s', jsonb_typeof(element.m)));
        END IF;
        SELECT k.key INTO field FROM jsonb_object_keys(element.m) AS k(key)
         WHERE k.key NOT IN ('body', 'label', 'attributes', 'delay_seconds', 'deduplication_id', 'group_id')
         ORDER BY k.key LIMIT 1;
        IF FOUND THEN
            PERFORM psqlqueue.raise_invalid(prefix || left(field, 64),
                'is not a message field (body, label, attributes, delay_seconds, deduplication_id, group_id)');
        END IF;
        -- Each field's JSON type: body a string; the others a string (attributes an object,
        -- delay_seconds a number) or null.
        SELECT f.name, jsonb_typeof(element.m -> f.name) INTO field, wrong
          FROM (VALUES (1, 'body', ARRAY['string']), (2, 'label', ARRAY['string', 'null']),
                       (3, 'attributes', ARRAY['object', 'null']), (4, 'delay_seconds', ARRAY['number', 'null']),
                       (5, 'deduplication_id', ARRAY['string', 'null']), (6, 'group_id', ARRAY['string', 'null']))
               AS f(n, name, allowed)
         WHERE NOT coalesce(jsonb_typeof(element.m -> f.name), 'null') = ANY (f.allowed)
         ORDER BY f.n LIMIT 1;
        IF FOUND THEN
            PERFORM psqlqueue.raise_invalid(prefix || field,
                format('must be a JSON %s, got %s', CASE field WHEN 'body' THEN 'string'
                                                                 WHEN 'attributes' THEN 'object or null'
                                                                 WHEN 'delay_seconds' THEN 'number or null'
                                                                 ELSE 'string or null' END,
                       coalesce('a JSON ' || wrong, 'nothing')));
        END IF;
        IF jsonb_typeof(element.m -> 'delay_seconds') = 'number'
           AND NOT element.m @? '$.delay_seconds ? (@ >= 0 && @ <= 1209600 && @ == @.floor())' THEN
            PERFORM psqlqueue.raise_invalid(prefix || 'delay_seconds',
                format('must be a whole number between 0 and 1209600 (14 days), got %s', left(element.m ->> 'delay_seconds', 40)));
        END IF;
        -- The message's own rules, worded by check_message, under this element's name.
        BEGIN
            PERFORM psqlqueue.check_message(element.m ->> 'body', element.m ->> 'label',
                                            nullif(element.m -> 'attributes', 'null'));
        EXCEPTION WHEN invalid_parameter_value THEN
            GET STACKED DIAGNOSTICS field = COLUMN_NAME, problem = MESSAGE_TEXT;
            RAISE EXCEPTION USING
                ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('invalid %s%s', prefix, substr(problem, length('invalid ') + 1)),
                COLUMN = prefix || field;
        END;
        PERFORM psqlqueue.check_send_options((element.m ->> 'delay_seconds')::numeric::int,
                                             element.m ->> 'deduplication_id', element.m ->> 'group_id', prefix);
    END LOOP;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_batch_messages(jsonb) IS
    'Internal: raises 22023 naming the first bad element of send_batch''s array (messages[i].field) unless it is a '
    'JSON array of 1 to 1000 message objects with send''s fields and rules.';

-- Token scopes (auth.sql): what a token of the HTTP API may do. No fast path: they are checked
-- once, when a token is created, and are read back already valid.
CREATE FUNCTION psqlqueue.check_scopes(scopes text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    scope text;
    target text;
    repeated text;
BEGIN
    IF scopes IS NULL OR cardinality(scopes) NOT BETWEEN 1 AND 64 THEN
        PERFORM psqlqueue.raise_invalid('scopes',
            format('must list 1 to 64 scopes, got %s', coalesce(cardinality(scopes)::text, 'null')));
    END IF;
    IF array_ndims(scopes) > 1 THEN
        PERFORM psqlqueue.raise_invalid('scopes',
            format('must be a one-dimensional array, got %s dimensions', array_ndims(scopes)));
    END IF;
    IF array_position(scopes, NULL) IS NOT NULL THEN
        PERFORM psqlqueue.raise_invalid('scopes',
            format('must not contain null, got one at position %s', array_position(scopes, NULL)));
    END IF;
    FOREACH scope IN ARRAY scopes LOOP
        -- What follows a known action and its colon; NULL when there is no known action.
        target := substring(scope FROM '^(?:send|consume|manage|publish):(.*)$');
        IF scope <> 'admin' AND NOT (coalesce(target = '*', false) OR psqlqueue.id_is_valid(target)) THEN
            PERFORM psqlqueue.raise_invalid('scopes',
                format('each must be admin or ACTION:NAME, ACTION one of send, consume, manage or publish and NAME * '
                       'or a queue or topic id (1 to 128 characters of a-z, A-Z, 0-9, ".", "_" or "-"), got %s',
                       quote_literal(left(scope, 140))));
        END IF;
    END LOOP;
    SELECT s.entry INTO repeated
      FROM unnest(scopes) AS s(entry)
     GROUP BY s.entry HAVING count(*) > 1
     ORDER BY s.entry LIMIT 1;
    IF FOUND THEN
        PERFORM psqlqueue.raise_invalid('scopes', format('must not list a scope twice, got %s twice', quote_literal(repeated)));
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.check_scopes(text[]) IS
    'Internal: raises 22023 naming the first bad entry unless scopes lists 1 to 64 distinct scopes, each admin or '
    'ACTION:NAME (ACTION send, consume, manage or publish; NAME * for every queue or topic, or one id).';
