-- Adds :fill messages to queue 'bench' that expired a second ago, for the retention sweep to
-- delete (fixture only: direct inserts, as in fill_queue.sql but already past their retention).
INSERT INTO psqlqueue.messages (id, queue_id, body, attributes, visible_at, expires_at, created_at)
SELECT psqlqueue.ulid(), 'bench', 'payload', '{"k": "v"}', now() - interval '1 s', now() - interval '1 s', now()
  FROM generate_series(1, :fill);
