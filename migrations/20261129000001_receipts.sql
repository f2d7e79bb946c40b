-- Receipts, the OCR results extracted from them, and their line items.
-- Postgres is the source of truth for a receipt's status; SQS only carries work.

CREATE TABLE receipts (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          TEXT        NOT NULL CHECK (length(user_id) BETWEEN 1 AND 128),
    bucket           TEXT        NOT NULL,
    object_key       TEXT        NOT NULL,
    file_name        TEXT        NOT NULL,
    content_type     TEXT        NOT NULL,
    size_bytes       BIGINT      NOT NULL CHECK (size_bytes >= 0),
    purchase_date    DATE,
    ocr_status       TEXT        NOT NULL DEFAULT 'pending'
                     CHECK (ocr_status IN ('pending', 'queued', 'processing', 'completed', 'failed')),
    -- Incremented by every worker claim; doubles as the fencing value of the claim.
    attempts         INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error       TEXT,
    -- A `processing` claim holds until then; past it the receipt may be claimed again.
    lease_expires_at TIMESTAMPTZ,
    queued_at        TIMESTAMPTZ,
    processed_at     TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT receipts_object_unique UNIQUE (bucket, object_key)
);

-- "The pending receipts of a user, oldest first" (process-all).
CREATE INDEX receipts_user_pending_idx
    ON receipts (user_id, created_at, id)
    WHERE ocr_status = 'pending';

-- Counts by status for a user (queue-status).
CREATE INDEX receipts_user_status_idx ON receipts (user_id, ocr_status);

-- A user's receipts, newest first (GET /receipts).
CREATE INDEX receipts_user_created_idx ON receipts (user_id, created_at DESC, id DESC);

-- Receipts in flight, for the reconciler that finds stuck ones.
CREATE INDEX receipts_in_flight_idx
    ON receipts (ocr_status, lease_expires_at, queued_at)
    WHERE ocr_status IN ('queued', 'processing');

CREATE TABLE receipt_metadata (
    receipt_id       BIGINT      PRIMARY KEY REFERENCES receipts (id) ON DELETE CASCADE,
    merchant_name    TEXT,
    merchant_address TEXT,
    purchase_date    DATE,
    currency         TEXT CHECK (currency ~ '^[A-Z]{3}$'),
    subtotal         NUMERIC,
    tax              NUMERIC,
    total            NUMERIC,
    validation       JSONB       NOT NULL DEFAULT '{}'::jsonb,
    raw_text         TEXT,
    confidence       DOUBLE PRECISION CHECK (confidence BETWEEN 0 AND 1),
    engine           TEXT,
    duration_ms      BIGINT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE receipt_items (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    receipt_id  BIGINT  NOT NULL REFERENCES receipts (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL CHECK (position >= 0),
    name        TEXT    NOT NULL,
    quantity    NUMERIC,
    unit_price  NUMERIC,
    amount      NUMERIC,
    CONSTRAINT receipt_items_position_unique UNIQUE (receipt_id, position)
);

CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER receipts_updated_at BEFORE UPDATE ON receipts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER receipt_metadata_updated_at BEFORE UPDATE ON receipt_metadata
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
