-- Deleting: one receipt, a user's receipts before a day, or everything of
-- a user; and the S3 objects that go with them.

-- S3 objects whose receipt is gone. The statement that deletes a receipt
-- writes its object here, so a crash or a failed S3 call after the commit
-- forgets nothing: the reconciler tries again until S3 confirms
-- (`deleted_at`). The row then stays as a tombstone for the event
-- retention, so that a late copy of the object's S3 event registers no
-- receipt: ingest registers none for an object listed here.
CREATE TABLE storage_deletions (
    bucket          TEXT        NOT NULL,
    object_key      TEXT        NOT NULL,
    attempts        INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at      TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket, object_key)
);

CREATE INDEX storage_deletions_due ON storage_deletions (next_attempt_at)
    WHERE deleted_at IS NULL;
CREATE INDEX storage_deletions_deleted ON storage_deletions (deleted_at)
    WHERE deleted_at IS NOT NULL;

-- An erasure asked for: a user's receipts uploaded before a day, or (with
-- `before` NULL) everything of the user. It runs in bounded batches, each
-- one transaction that also counts what it deleted, so a crash midway
-- loses nothing and the next run carries on.
CREATE TABLE erasures (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          TEXT        NOT NULL CHECK (length(user_id) BETWEEN 1 AND 128),
    before           DATE,
    -- Who asked: the user, an operator, or `retention`.
    requested_by     TEXT        NOT NULL,
    state            TEXT        NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done')),
    receipts_deleted BIGINT      NOT NULL DEFAULT 0 CHECK (receipts_deleted >= 0),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at      TIMESTAMPTZ
);

-- One running erasure per user and scope: asking again answers it.
CREATE UNIQUE INDEX erasures_running
    ON erasures (user_id, coalesce(before, 'infinity'::date)) WHERE state = 'running';
CREATE INDEX erasures_user ON erasures (user_id, id DESC);

CREATE TRIGGER erasures_updated_at BEFORE UPDATE ON erasures
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A deleted receipt's webhook deliveries, found by its events.
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (user_id, event_seq)
    WHERE event_seq IS NOT NULL;

-- Retention and `before=`: a user's receipts by upload time.
CREATE INDEX receipts_created_idx ON receipts (created_at, id);
