-- The raw limit of a receive + ack cycle: one UPDATE over SKIP LOCKED rows, then one DELETE.
WITH head AS (
    SELECT id FROM bench_raw
     WHERE queue_id = 'bench' AND visible_at <= now()
     ORDER BY visible_at, id LIMIT :n FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE bench_raw AS m SET visible_at = now() + interval '30 s', delivery_attempts = m.delivery_attempts + 1
      FROM head WHERE m.id = head.id RETURNING m.id
)
SELECT array_agg(id) AS ids FROM leased \gset
DELETE FROM bench_raw WHERE id = ANY (:ids::text[]);
