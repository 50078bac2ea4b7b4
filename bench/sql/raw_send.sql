INSERT INTO bench_raw (id, queue_id, body, attributes, visible_at, expires_at, created_at)
VALUES (gen_random_uuid()::text, 'bench', 'payload', '{"k": "v"}', now(), now() + interval '1 day', now());
