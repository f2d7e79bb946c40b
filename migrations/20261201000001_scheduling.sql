-- Scheduling and control: priority, same-bytes duplicates, uploads safe to
-- repeat (Idempotency-Key), and per-user rate limits.

ALTER TABLE receipts
    -- Which OCR queue the receipt's job goes to.
    ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal' CHECK (priority IN ('high', 'normal')),
    -- Of the bytes uploaded through the API: the same bytes twice from one
    -- user answer the first receipt (unless allow_duplicate=true).
    ADD COLUMN content_sha256 TEXT CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
    -- The client's Idempotency-Key of the upload that made the receipt.
    ADD COLUMN idempotency_key TEXT CHECK (length(idempotency_key) BETWEEN 1 AND 255);

CREATE UNIQUE INDEX receipts_user_idempotency_key
    ON receipts (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE INDEX receipts_user_content
    ON receipts (user_id, content_sha256) WHERE content_sha256 IS NOT NULL;

-- A presigned upload handed out: which object it is for, so that the same
-- Idempotency-Key gets the same object, and the S3 event's receipt gets the
-- priority that was asked for.
CREATE TABLE upload_intents (
    bucket          TEXT        NOT NULL,
    object_key      TEXT        NOT NULL,
    user_id         TEXT        NOT NULL,
    idempotency_key TEXT        CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    content_type    TEXT        NOT NULL,
    priority        TEXT        NOT NULL CHECK (priority IN ('high', 'normal')),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket, object_key)
);

CREATE UNIQUE INDEX upload_intents_user_idempotency_key
    ON upload_intents (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE INDEX upload_intents_created ON upload_intents (created_at);

-- Token buckets, one per user and limit: `tokens` as of `refilled_at`.
CREATE TABLE rate_limit_buckets (
    user_id     TEXT             NOT NULL,
    name        TEXT             NOT NULL,
    tokens      DOUBLE PRECISION NOT NULL,
    refilled_at TIMESTAMPTZ      NOT NULL,
    PRIMARY KEY (user_id, name)
);
