-- send to a queue someone long-polls (psqlqueue.listen_for is in force): every send notifies.
SELECT psqlqueue.send('heard', 'payload', NULL, '{"k": "v"}');
