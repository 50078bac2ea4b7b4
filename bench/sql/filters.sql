-- Topics filters-exact and filters-typed, each with 100 subscribed queues; subscriptions 1-50
-- match the message publish_topic.sql publishes ({"kind": "match", "id": "42"}), 51-100 do not.
-- filters-exact uses exact values only; filters-typed the typed conditions, one kind per
-- subscription in turn (i % 5): prefix, suffix, anything-but on "kind", exists and numeric on
-- "id"; each exact subscription tests the same key as the typed one of its number. With
-- -v typed=false (an extension without typed conditions), filters-typed gets the exact filters.
SELECT psqlqueue.create_topic(t) FROM (VALUES ('filters-exact'), ('filters-typed')) AS x(t);
SELECT psqlqueue.create_queue(format('%s-q%s', t, i), 30, 86400)
  FROM (VALUES ('filters-exact'), ('filters-typed')) AS x(t), generate_series(1, 100) AS i;
SELECT psqlqueue.create_subscription(format('%s-s%s', t, i), t, format('%s-q%s', t, i),
           CASE WHEN t = 'filters-typed' AND :typed THEN
               CASE i % 5
                   WHEN 0 THEN jsonb_build_object('kind', jsonb_build_array(jsonb_build_object('prefix', CASE WHEN i <= 50 THEN 'mat' ELSE 'oth' END)))
                   WHEN 1 THEN jsonb_build_object('kind', jsonb_build_array(jsonb_build_object('suffix', CASE WHEN i <= 50 THEN 'tch' ELSE 'her' END)))
                   WHEN 2 THEN jsonb_build_object('kind', jsonb_build_array(jsonb_build_object('anything-but',
                                   CASE WHEN i <= 50 THEN '["other", "none"]' ELSE '["match", "none"]' END::jsonb)))
                   WHEN 3 THEN jsonb_build_object('id', jsonb_build_array(jsonb_build_object('exists', i <= 50)))
                   ELSE jsonb_build_object('id', jsonb_build_array(jsonb_build_object('numeric',
                                   CASE WHEN i <= 50 THEN '[">=", 10, "<", 100]' ELSE '[">", 100]' END::jsonb)))
               END
           ELSE
               jsonb_build_object(CASE WHEN i % 5 < 3 THEN 'kind' ELSE 'id' END,
                   jsonb_build_array(CASE WHEN i % 5 < 3 THEN CASE WHEN i <= 50 THEN 'match' ELSE 'other' END
                                          ELSE CASE WHEN i <= 50 THEN '42' ELSE '43' END END))
           END)
  FROM (VALUES ('filters-exact'), ('filters-typed')) AS x(t), generate_series(1, 100) AS i;
