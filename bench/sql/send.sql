SELECT psqlqueue.send('bench', 'payload', NULL, '{"k": "v"}');
