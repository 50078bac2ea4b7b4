-- receive :n, then ack each received message (two transactions, like a consumer).
SELECT array_agg(id) AS ids FROM psqlqueue.receive('bench', NULL, :n) \gset
SELECT count(psqlqueue.ack('bench', id)) FROM unnest(:ids::text[]) AS id;
