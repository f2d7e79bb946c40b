-- What the reader gives beyond the first contract: an item's article
-- number, the tip, the locale and currency used (and where each came from),
-- and a confidence per field.
ALTER TABLE receipt_items ADD COLUMN code TEXT;
ALTER TABLE receipt_metadata
    ADD COLUMN tip NUMERIC,
    ADD COLUMN locale JSONB,
    ADD COLUMN field_confidence JSONB;
