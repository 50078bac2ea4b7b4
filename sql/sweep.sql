-- Retention: expired messages are deleted in bounded batches, without anyone calling
-- cleanup_queue. One function does the work (sweep); its drivers only schedule it:
--   * the background worker (psqlqueue in shared_preload_libraries), which holds the sweeper
--     lock for its whole life and sweeps every psqlqueue.sweep_interval seconds;
--   * the HTTP sidecar's timer, through try_sweep, which sweeps only when no other session
--     holds the lock (so with a worker running, or several sidecars, one sweeper works at a time);
--   * SQL-only users: pg_cron or any scheduler calling sweep (README, "Retention").

CREATE FUNCTION psqlqueue.sweeper_lock_key()
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- The advisory lock whose holder is this database's sweeper: 'psqlswep' in ASCII, a key no
-- other application is likely to pick. Advisory locks are per database, as sweepers are.
RETURN 8102944865177265520;
COMMENT ON FUNCTION psqlqueue.sweeper_lock_key() IS
    'The advisory lock key held by the session that sweeps expired messages (the background worker holds it '
    'while it runs; try_sweep takes it per batch).';

CREATE FUNCTION psqlqueue.sweep(max_rows int DEFAULT 10000)
RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    at timestamptz := clock_timestamp();
    queue_ids text[];
    ids text[];
    removed int;
BEGIN
    IF sweep.max_rows IS NULL OR sweep.max_rows NOT BETWEEN 1 AND 100000 THEN
        PERFORM psqlqueue.raise_invalid('max_rows',
            format('must be between 1 and 100000, got %s', coalesce(sweep.max_rows::text, 'null')));
    END IF;
    -- The oldest expired rows, read from the expiry index (no scan of live messages) and locked
    -- without waiting: a row a receiver or ack holds right now is left for the next batch. The
    -- keys go through arrays so the DELETE is planned as primary-key probes, (queue_id, id)
    -- pairs, for any batch size (a generic plan would guess a tenth of the table for the LIMIT).
    SELECT array_agg(e.queue_id), array_agg(e.id) INTO queue_ids, ids
      FROM (SELECT m.queue_id, m.id FROM psqlqueue.messages AS m
             WHERE m.expires_at <= at
             ORDER BY m.expires_at
             LIMIT sweep.max_rows
               FOR UPDATE SKIP LOCKED) AS e;
    removed := 0;
    IF ids IS NOT NULL THEN
        DELETE FROM psqlqueue.messages AS m
         USING unnest(queue_ids, ids) AS e(queue_id, id)
         WHERE m.queue_id = e.queue_id AND m.id = e.id;
        GET DIAGNOSTICS removed = ROW_COUNT;
    END IF;
    -- Deduplication entries past their window, as many at most (they only take space: a send
    -- takes an expired entry over anyway).
    DELETE FROM psqlqueue.deduplications AS d
     USING (SELECT x.queue_id, x.deduplication_id FROM psqlqueue.deduplications AS x
             WHERE x.expires_at <= at
             ORDER BY x.expires_at
             LIMIT sweep.max_rows
               FOR UPDATE SKIP LOCKED) AS e
     WHERE d.queue_id = e.queue_id AND d.deduplication_id = e.deduplication_id;
    DELETE FROM psqlqueue.topic_deduplications AS d
     USING (SELECT x.topic_id, x.deduplication_id FROM psqlqueue.topic_deduplications AS x
             WHERE x.expires_at <= at
             ORDER BY x.expires_at
             LIMIT sweep.max_rows
               FOR UPDATE SKIP LOCKED) AS e
     WHERE d.topic_id = e.topic_id AND d.deduplication_id = e.deduplication_id;
    RETURN removed;
END
$$;
COMMENT ON FUNCTION psqlqueue.sweep(int) IS
    'Deletes up to max_rows (1..100000) expired messages of every queue, oldest expiry first, and returns how '
    'many; also up to max_rows deduplication entries past their window, of queues and of topics. One bounded batch in the caller''s transaction: call it again while it returns max_rows. Rows locked '
    'by other sessions are skipped. Errors: 22023 bad max_rows.';

CREATE FUNCTION psqlqueue.try_sweep(max_rows int DEFAULT 10000)
RETURNS int
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- A transaction-level lock: released at commit, so a sidecar holds it for one batch only. The
    -- background worker's session-level lock on the same key makes this fail in other sessions.
    IF NOT pg_try_advisory_xact_lock(psqlqueue.sweeper_lock_key()) THEN
        RETURN NULL;
    END IF;
    RETURN psqlqueue.sweep(try_sweep.max_rows);
END
$$;
COMMENT ON FUNCTION psqlqueue.try_sweep(int) IS
    'Runs one sweep batch unless another session is the sweeper (holds the sweeper_lock_key() advisory lock), '
    'and then returns NULL without doing anything. For periodic drivers of which several may run at once.';
