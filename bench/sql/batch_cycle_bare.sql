-- batch_cycle.sql without the functions: receive's lease statement and ack_batch's DELETE as a
-- client could send them itself (now() standing in for the time each function reads once, the
-- queue's name and the limit written in), so that bench-instructions can tell what the
-- statements cost from what the functions around them cost. A copy: sql/message.sql and
-- sql/lease.sql are the statements' home. The wanted label is a subquery, not a constant, so
-- that the label test is run on every candidate as receive runs it (a constant NULL folds it
-- away), and the messages are sorted whole in a MATERIALIZED CTE, as receive returns them.
WITH head AS MATERIALIZED (
    SELECT ARRAY(SELECT m.id
                   FROM psqlqueue.messages AS m
                  WHERE m.queue_id = 'bench' AND m.visible_at <= now() AND m.expires_at > now()
                    AND coalesce(m.label = (SELECT NULL::text), (SELECT NULL::text) IS NULL)
                  ORDER BY m.visible_at, m.id
                  LIMIT 10
                    FOR UPDATE OF m SKIP LOCKED) AS ids,
           q.ack_deadline_seconds, q.max_delivery_attempts
      FROM psqlqueue.queues AS q
     WHERE q.id = 'bench'
), taken AS (
    UPDATE psqlqueue.messages AS m
       SET visible_at = now() + make_interval(secs => h.ack_deadline_seconds),
           delivery_attempts = least(m.delivery_attempts, 2147483646) + 1,
           receipt = psqlqueue.receipt()
      FROM head AS h
     WHERE m.queue_id = 'bench' AND m.id = ANY (h.ids)
       AND NOT coalesce(psqlqueue.attempts_spent(m.delivery_attempts, h.max_delivery_attempts), false)
    RETURNING m.id, m.queue_id, m.label, m.body, m.attributes, m.delivery_attempts, m.created_at,
              m.receipt, m.visible_at, m.group_id
), delivered AS MATERIALIZED (
    SELECT t.* FROM taken AS t ORDER BY t.created_at, t.id
)
SELECT array_agg(id) AS ids, array_agg(receipt) AS receipts FROM delivered \gset
WITH done AS (
    DELETE FROM psqlqueue.messages AS m
     USING unnest(:ids::text[], :receipts::text[]) AS e(id, receipt)
     WHERE m.id = e.id AND m.queue_id = 'bench'
       AND psqlqueue.lease_held(m.receipt, m.visible_at, e.receipt, clock_timestamp())
    RETURNING m.id
)
SELECT cardinality(ARRAY(SELECT done.id FROM done));
