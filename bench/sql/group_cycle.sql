-- Steady state over ordered groups (-D queue=... -D grouped=1|0): 10 sends, each to a random one
-- of 1,000 groups (grouped=0: to no group), then receive(10) and one ack_batch of what came back.
-- Each send is its own transaction and takes one group's lock; an ack_batch takes the locks of
-- the groups whose heads it acks, which no other transaction holds leased: so no two
-- transactions ever wait for each other's group locks in opposite orders.
\set g random(1, 1000)
SELECT psqlqueue.send(:queue, 'payload', NULL, '{"k": "v"}', group_id => CASE WHEN :grouped = 1 THEN 'g' || :g END);
\set g random(1, 1000)
SELECT psqlqueue.send(:queue, 'payload', NULL, '{"k": "v"}', group_id => CASE WHEN :grouped = 1 THEN 'g' || :g END);
\set g random(1, 1000)
SELECT psqlqueue.send(:queue, 'payload', NULL, '{"k": "v"}', group_id => CASE WHEN :grouped = 1 THEN 'g' || :g END);
\set g random(1, 1000)
SELECT psqlqueue.send(:queue, 'payload', NULL, '{"k": "v"}', group_id => CASE WHEN :grouped = 1 THEN 'g' || :g END);
\set g random(1, 1000)
SELECT psqlqueue.send(:queue, 'payload', NULL, '{"k": "v"}', group_id => CASE WHEN :grouped = 1 THEN 'g' || :g END);
\set g random(1, 1000)
SELECT psqlqueue.send(:queue, 'payload', NULL, '{"k": "v"}', group_id => CASE WHEN :grouped = 1 THEN 'g' || :g END);
\set g random(1, 1000)
SELECT psqlqueue.send(:queue, 'payload', NULL, '{"k": "v"}', group_id => CASE WHEN :grouped = 1 THEN 'g' || :g END);
\set g random(1, 1000)
SELECT psqlqueue.send(:queue, 'payload', NULL, '{"k": "v"}', group_id => CASE WHEN :grouped = 1 THEN 'g' || :g END);
\set g random(1, 1000)
SELECT psqlqueue.send(:queue, 'payload', NULL, '{"k": "v"}', group_id => CASE WHEN :grouped = 1 THEN 'g' || :g END);
\set g random(1, 1000)
SELECT psqlqueue.send(:queue, 'payload', NULL, '{"k": "v"}', group_id => CASE WHEN :grouped = 1 THEN 'g' || :g END);
SELECT array_agg(id) AS ids, array_agg(receipt) AS receipts FROM psqlqueue.receive(:queue, NULL, 10) \gset
SELECT count(*) FROM psqlqueue.ack_batch(:queue, :ids::text[], :receipts::text[]);
