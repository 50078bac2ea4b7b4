-- One publish to topic :topic (publish.sql's message; filters.sql's topics: 50 of 100 match).
SELECT psqlqueue.publish(:topic, 'order body', '{"kind": "match", "id": "42"}');
