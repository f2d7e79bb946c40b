-- The operators' stats read receipts finished in a window, across users.
CREATE INDEX receipts_processed_at ON receipts (processed_at) WHERE processed_at IS NOT NULL;
