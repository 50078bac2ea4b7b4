-- psqlqueue schema: tables, types and indexes. Functions live in errors.sql, checks.sql,
-- queue.sql, wakeup.sql, message.sql, lease.sql, dead_letter.sql, pubsub.sql, sweep.sql and
-- auth.sql (with the API tokens' table), and privileges.sql says who may call them; this file
-- runs first (it is the extension's bootstrap SQL). The CHECK constraints below restate rules
-- whose home is checks.sql, as a last line of defence for rows written without the functions;
-- each one's comment names its check, and a test holds both to the same boundaries.

-- A queue's settings. Every timing rule of its messages derives from these columns.
CREATE TABLE psqlqueue.queues (
    id                        text        PRIMARY KEY
                                          CONSTRAINT queues_id_format CHECK (id ~ '^[a-zA-Z0-9._-]{1,128}$'),
    ack_deadline_seconds      int         NOT NULL
                                          CONSTRAINT queues_ack_deadline_range CHECK (ack_deadline_seconds BETWEEN 1 AND 43200),
    message_retention_seconds int         NOT NULL
                                          CONSTRAINT queues_retention_range CHECK (message_retention_seconds BETWEEN 1 AND 1209600),
    delivery_delay_seconds    int         NOT NULL DEFAULT 0,
    created_at                timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at                timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- Dead letters: a message whose max_delivery_attempts-th lease ends without an ack moves to
    -- dead_letter_queue_id (message.sql, receive). Both set or neither. A queue that is another's
    -- dead-letter queue cannot be deleted while referenced (RESTRICT backs delete_queue's check).
    max_delivery_attempts     int
                                          CONSTRAINT queues_max_delivery_attempts_range CHECK (max_delivery_attempts BETWEEN 1 AND 1000),
    dead_letter_queue_id      text
                                          CONSTRAINT queues_dead_letter_queue_fkey REFERENCES psqlqueue.queues (id) ON DELETE RESTRICT,
    -- Deduplication (message.sql, send): a second send with the same deduplication id within
    -- this many seconds of the first returns the first's id and writes nothing; 0 turns it off.
    deduplication_window_seconds int      NOT NULL DEFAULT 300
                                          CONSTRAINT queues_deduplication_window_range CHECK (deduplication_window_seconds BETWEEN 0 AND 1209600),
    CONSTRAINT queues_delay_range CHECK (delivery_delay_seconds >= 0
                                         AND delivery_delay_seconds < message_retention_seconds),
    CONSTRAINT queues_dead_letter_pair CHECK ((max_delivery_attempts IS NULL) = (dead_letter_queue_id IS NULL)),
    CONSTRAINT queues_dead_letter_other CHECK (dead_letter_queue_id <> id)
);

-- One row per message not yet acked. An acked message is deleted at once, so the table holds
-- only work that is waiting, leased or delayed (plus expired rows until the sweep, see
-- sweep.sql, removes them).
--
-- visible_at is the single timing column the hot path reads: a message is deliverable when
-- visible_at <= now and expires_at > now. Sending sets it to now + delay, receiving to
-- now + ack deadline (the lease), nack to now + the given timeout.
--
-- receipt is the current lease's proof, drawn anew by every delivery and cleared when the lease
-- is given back: a message is leased right now when receipt IS NOT NULL and visible_at > now
-- (psqlqueue.lease_held, lease.sql). source_queue_id is the queue a dead-lettered message came
-- from (redrive sends it back there); NULL for every other message.
CREATE TABLE psqlqueue.messages (
    -- A ULID (sortable by send time) compared byte by byte, the order ULIDs are defined in:
    -- some locales order its letters otherwise (Danish puts 'AA' after 'AB'), and every key
    -- holding it sorts and probes without the locale's collation, which took 3% of a
    -- receive(10) + ack_batch cycle's instructions here.
    id                text        COLLATE "C" NOT NULL,
    -- No foreign key, as in deduplications below: every statement that writes a message (send,
    -- send_batch, publish, the move to a dead-letter queue, redrive) already holds its queue's
    -- row lock (FOR KEY SHARE, the lock a foreign-key check takes) until commit, so the check's
    -- second look at the queue, once per row, bought nothing and cost 37k instructions a row:
    -- 12% of a send, 30% of a send_batch of 10 (callgrind, 200 calls, one backend, fresh
    -- databases, 0.15.0 with the key added back against without). What the key's ON DELETE
    -- CASCADE did, delete_queue does (queue.sql), after the queue's row is gone, when no writer
    -- can be under way.
    queue_id          text        NOT NULL,
    label             text,
    body              text        NOT NULL,
    attributes        jsonb       NOT NULL DEFAULT '{}',
    delivery_attempts int         NOT NULL DEFAULT 0,         -- saturates at 2147483647
    visible_at        timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    created_at        timestamptz NOT NULL,
    receipt           text,
    source_queue_id   text,                                   -- no foreign key: outlives its queue
    -- Ordered groups (groups.sql): messages of one group_id in one queue are delivered one at a
    -- time in arrival order (group_seq). Only the group's head is deliverable; the others wait
    -- parked, visible_at infinity, with not_before the time they may be delivered once they head
    -- the group (arrival + delay). All three are NULL for a message without a group.
    group_id          text,
    group_seq         bigint,
    not_before        timestamptz,
    -- queue_id leads every key of this table, so the table can be split by queue (for example
    -- distributed by queue_id on Citus, docs/SCALING.md) without losing a constraint: every
    -- statement names the queue of the rows it reads. Ids stay unique across queues anyway
    -- (80 random bits per millisecond); dead-lettering and redrive move a row between queues
    -- keeping its id. tests/tests/distribution.rs holds the schema to this.
    CONSTRAINT messages_pkey PRIMARY KEY (queue_id, id)
);

-- The receive path: per queue, in the order messages become deliverable. Reading the head of
-- this index needs no sort however long the backlog is.
CREATE INDEX messages_queue_visible_idx ON psqlqueue.messages (queue_id, visible_at, id);
-- The sweep: the oldest expired messages of every queue, found without reading live ones.
CREATE INDEX messages_expires_idx ON psqlqueue.messages (expires_at);
-- Ordered groups: a group's messages in arrival order (who heads it, who is next).
CREATE INDEX messages_group_idx ON psqlqueue.messages (queue_id, group_id, group_seq) WHERE group_id IS NOT NULL;
-- Arrival order of grouped messages: drawn while the group's lock is held (groups.sql), so it
-- follows the order in which senders committed.
CREATE SEQUENCE psqlqueue.group_seq;

-- Deduplication ids a queue has seen within its window (message.sql, send): the id a second
-- send with the same deduplication id answers with. Expired entries are overwritten by the
-- next send with their id, and deleted by the sweep.
--
-- queue_id has no foreign key: the claim that writes an entry already holds its queue's row
-- lock (FOR KEY SHARE, the lock a foreign-key check takes), so the check's second look at the
-- queue bought nothing and cost 7% of a send with a deduplication id's instructions (callgrind,
-- 200 sends, one backend). What the key's ON DELETE CASCADE did, delete_queue does (queue.sql),
-- after the queue's row is gone, when no claim can be under way.
CREATE TABLE psqlqueue.deduplications (
    queue_id         text        NOT NULL,
    deduplication_id text        NOT NULL,
    message_id       text        NOT NULL,
    expires_at       timestamptz NOT NULL,
    CONSTRAINT deduplications_pkey PRIMARY KEY (queue_id, deduplication_id)
);
-- The sweep's way to the expired entries. BRIN, not a b-tree: entries expire in about the order
-- they were made, so block ranges summarise them well, and a send with a deduplication id does
-- not pay a second b-tree insertion (it cost that send a third of its time, measured with 3,000
-- sends in one transaction).
CREATE INDEX deduplications_expires_idx ON psqlqueue.deduplications USING brin (expires_at);

-- Pub/sub: a message published to a topic is copied into every subscribed queue whose filter
-- it matches.
CREATE TABLE psqlqueue.topics (
    id         text        PRIMARY KEY
                           CONSTRAINT topics_id_format CHECK (id ~ '^[a-zA-Z0-9._-]{1,128}$'),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- As queues.deduplication_window_seconds, for publish.
    deduplication_window_seconds int NOT NULL DEFAULT 300
                           CONSTRAINT topics_deduplication_window_range CHECK (deduplication_window_seconds BETWEEN 0 AND 1209600)
);

-- Deduplication ids a topic has seen within its window (pubsub.sql, publish): what a second
-- publish with the same id answers (the first's number of copies).
CREATE TABLE psqlqueue.topic_deduplications (
    topic_id         text        NOT NULL REFERENCES psqlqueue.topics (id) ON DELETE CASCADE,
    deduplication_id text        NOT NULL,
    delivered        int         NOT NULL,
    expires_at       timestamptz NOT NULL,
    CONSTRAINT topic_deduplications_pkey PRIMARY KEY (topic_id, deduplication_id)
);
CREATE INDEX topic_deduplications_expires_idx ON psqlqueue.topic_deduplications USING brin (expires_at);

CREATE TABLE psqlqueue.subscriptions (
    id              text        PRIMARY KEY
                                CONSTRAINT subscriptions_id_format CHECK (id ~ '^[a-zA-Z0-9._-]{1,128}$'),
    topic_id        text        NOT NULL REFERENCES psqlqueue.topics (id) ON DELETE CASCADE,
    queue_id        text        NOT NULL REFERENCES psqlqueue.queues (id) ON DELETE CASCADE,
    message_filters jsonb,      -- NULL: every message; see psqlqueue.filter_matches
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- Also the index publish reads: all subscriptions of a topic.
    CONSTRAINT subscriptions_topic_queue_key UNIQUE (topic_id, queue_id)
);
-- Deleting a queue finds its subscriptions through this index.
CREATE INDEX subscriptions_queue_idx ON psqlqueue.subscriptions (queue_id);

-- Long polling (wakeup.sql): until when someone listens for a queue's announcements. Runtime
-- state, not data: unlogged (a crash empties it; listeners renew) and not dumped.
CREATE UNLOGGED TABLE psqlqueue.listeners (
    queue_id text        PRIMARY KEY REFERENCES psqlqueue.queues (id) ON DELETE CASCADE,
    until    timestamptz NOT NULL,
    -- Whether the next announcement is awaited: the first one after listen_for clears it, and
    -- announcements stop until a listener asks again (wakeup.sql, announce).
    armed    boolean     NOT NULL DEFAULT true
);

-- What receive returns. A named type (rather than RETURNS TABLE) because receive's argument
-- "label" would clash with the output column of the same name.
CREATE TYPE psqlqueue.received_message AS (
    id                text,
    queue_id          text,
    label             text,
    body              text,
    attributes        jsonb,
    delivery_attempts int,
    created_at        timestamptz,
    receipt           text,        -- pass it to ack, nack and extend: proof of this lease
    lease_expires_at  timestamptz,
    group_id          text
);

CREATE TYPE psqlqueue.queue_stats AS (
    num_undelivered_messages           bigint,
    oldest_unacked_message_age_seconds bigint
);

COMMENT ON CONSTRAINT queues_id_format ON psqlqueue.queues IS 'Restates psqlqueue.check_id (checks.sql).';
COMMENT ON CONSTRAINT topics_id_format ON psqlqueue.topics IS 'Restates psqlqueue.check_id (checks.sql).';
COMMENT ON CONSTRAINT subscriptions_id_format ON psqlqueue.subscriptions IS 'Restates psqlqueue.check_id (checks.sql).';
COMMENT ON CONSTRAINT queues_ack_deadline_range ON psqlqueue.queues IS 'Restates psqlqueue.check_queue_settings (checks.sql).';
COMMENT ON CONSTRAINT queues_retention_range ON psqlqueue.queues IS 'Restates psqlqueue.check_queue_settings (checks.sql).';
COMMENT ON CONSTRAINT queues_delay_range ON psqlqueue.queues IS 'Restates psqlqueue.check_queue_settings (checks.sql).';
COMMENT ON CONSTRAINT queues_max_delivery_attempts_range ON psqlqueue.queues IS 'Restates psqlqueue.check_dead_letter (checks.sql).';
COMMENT ON CONSTRAINT queues_dead_letter_pair ON psqlqueue.queues IS 'Restates psqlqueue.check_dead_letter (checks.sql).';
COMMENT ON CONSTRAINT queues_dead_letter_other ON psqlqueue.queues IS 'Restates psqlqueue.check_dead_letter (checks.sql).';
COMMENT ON CONSTRAINT queues_deduplication_window_range ON psqlqueue.queues IS 'Restates psqlqueue.check_deduplication_window (checks.sql).';
COMMENT ON CONSTRAINT topics_deduplication_window_range ON psqlqueue.topics IS 'Restates psqlqueue.check_deduplication_window (checks.sql).';

-- pg_dump keeps the rows of extension tables only when they are registered.
SELECT pg_catalog.pg_extension_config_dump('psqlqueue.queues', '');
SELECT pg_catalog.pg_extension_config_dump('psqlqueue.messages', '');
SELECT pg_catalog.pg_extension_config_dump('psqlqueue.topics', '');
SELECT pg_catalog.pg_extension_config_dump('psqlqueue.subscriptions', '');
SELECT pg_catalog.pg_extension_config_dump('psqlqueue.deduplications', '');
SELECT pg_catalog.pg_extension_config_dump('psqlqueue.topic_deduplications', '');
-- Its value orders the groups' next arrivals after those restored.
SELECT pg_catalog.pg_extension_config_dump('psqlqueue.group_seq', '');
