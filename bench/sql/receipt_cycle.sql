-- receive 1, then ack it with its receipt (two transactions, like a consumer of the 0.5.0 API).
SELECT id, receipt FROM psqlqueue.receive('bench', NULL, 1) \gset
SELECT psqlqueue.ack('bench', :id, :receipt);
