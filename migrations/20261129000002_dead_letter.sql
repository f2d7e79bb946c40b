-- Set when a receipt failed on its last allowed receive and its message went
-- to the OCR dead-letter queue; a redrive puts exactly these back to `queued`.
ALTER TABLE receipts ADD COLUMN dead_lettered_at TIMESTAMPTZ;

CREATE INDEX receipts_dead_lettered_idx ON receipts (dead_lettered_at)
    WHERE dead_lettered_at IS NOT NULL;
