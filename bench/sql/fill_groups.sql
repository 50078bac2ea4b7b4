-- Queues 'grouped' (1,000 groups of 20 messages: each group's first is its head, the rest wait
-- parked behind it, as the group trigger places them) and 'plain' (the same 20,000 messages
-- without groups), emptied and filled afresh (fixture only: direct inserts; the bench_groups
-- database holds nothing else, so TRUNCATE).
TRUNCATE psqlqueue.messages;
INSERT INTO psqlqueue.messages (id, queue_id, body, attributes, visible_at, expires_at, created_at, group_id)
SELECT psqlqueue.ulid(), q.queue_id, 'payload', '{"k": "v"}', now() - interval '1 s', now() + interval '1 day', now(),
       CASE WHEN q.queue_id = 'grouped' THEN 'g' || g END
  FROM (VALUES ('grouped'), ('plain')) AS q(queue_id), generate_series(1, 20) AS n, generate_series(1, 1000) AS g
 ORDER BY q.queue_id, n, g;
