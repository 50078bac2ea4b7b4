-- Steady depth: each cycle sends one message and receives + acks the oldest one.
SELECT psqlqueue.send('bench', 'payload', NULL, '{"k": "v"}');
SELECT array_agg(id) AS ids FROM psqlqueue.receive('bench', NULL, 1) \gset
SELECT count(psqlqueue.ack('bench', id)) FROM unnest(:ids::text[]) AS id;
