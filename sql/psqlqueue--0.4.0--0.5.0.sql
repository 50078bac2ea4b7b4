-- psqlqueue 0.4.0 -> 0.5.0. Run by ALTER EXTENSION psqlqueue UPDATE; never by hand.
\echo Use "ALTER EXTENSION psqlqueue UPDATE TO '0.5.0'" to load this file. \quit

-- Change 1: the subscription filter evaluator moves to Rust, beside its validator
-- (psqlqueue-ext/src/filter.rs); filter_matches keeps its signature and answers the same.
CREATE FUNCTION psqlqueue."match_message_filters"(
	"filters" TEXT, /* Option < & str > */
	"attributes" TEXT /* Option < & str > */
) RETURNS bool /* bool */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'match_message_filters_wrapper';
COMMENT ON FUNCTION psqlqueue.match_message_filters(text, text) IS 'Internal: the subscription filter evaluator behind psqlqueue.filter_matches, over JSON text; raises 22023 when the filter or the attributes are malformed.';

CREATE OR REPLACE FUNCTION psqlqueue.filter_matches(filters jsonb, attributes jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- The evaluator is Rust, beside the validator (psqlqueue-ext/src/filter.rs: why there). This
-- wrapper answers unfiltered subscriptions without calling it. The body is SQL-standard
-- (RETURN), so its names are bound when the extension is created: no caller's search_path can
-- redirect them, and no SET clause is paid per subscription row.
RETURN filters IS NULL
    OR psqlqueue.match_message_filters(filters::text, attributes::text);
