-- send.sql with a deduplication id never seen before (so every send writes, and claims an entry).
SELECT psqlqueue.send('bench', 'payload', NULL, '{"k": "v"}', deduplication_id => gen_random_uuid()::text);
