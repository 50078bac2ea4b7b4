-- One publish to topic fanout-:subs; half of its subscriptions (rounded up) match.
SELECT psqlqueue.publish('fanout-' || :subs, 'order body', '{"kind": "match", "id": "42"}');
