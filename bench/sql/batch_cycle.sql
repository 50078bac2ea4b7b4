-- receive 10, then ack them all with their receipts in one ack_batch (two transactions).
SELECT array_agg(id) AS ids, array_agg(receipt) AS receipts FROM psqlqueue.receive('bench', NULL, 10) \gset
SELECT count(*) FROM psqlqueue.ack_batch('bench', :ids::text[], :receipts::text[]);
