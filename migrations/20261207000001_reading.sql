-- What the reader gives beyond the first contract: an item's article
-- number, the tip, the locale and currency used (and where each came from),
-- and a confidence per field.
ALTER TABLE receipt_items ADD COLUMN code TEXT;
ALTER TABLE receipt_metadata
    ADD COLUMN tip NUMERIC,
    ADD COLUMN locale JSONB,
    ADD COLUMN field_confidence JSONB;

-- The locale hint (BCP 47) a receipt was uploaded with, the one a
-- presigned upload was asked with, and a user's default.
ALTER TABLE receipts ADD COLUMN locale TEXT;
ALTER TABLE upload_intents ADD COLUMN locale TEXT;
CREATE TABLE user_settings (
    user_id    TEXT        PRIMARY KEY CHECK (length(user_id) BETWEEN 1 AND 128),
    locale     TEXT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
