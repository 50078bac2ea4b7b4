-- Tops queue 'bench' up to :fill deliverable messages (fixture only: direct inserts).
DELETE FROM psqlqueue.messages WHERE queue_id = 'bench' AND (delivery_attempts > 0 OR visible_at > now());
INSERT INTO psqlqueue.messages (id, queue_id, body, attributes, visible_at, expires_at, created_at)
SELECT psqlqueue.ulid(), 'bench', 'payload', '{"k": "v"}', now() - interval '1 s', now() + interval '1 day', now()
  FROM generate_series(1, greatest(0, :fill - (SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'bench')));
