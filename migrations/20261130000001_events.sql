-- The outbox. Every status transition writes its event in the statement
-- that makes it (see repo.rs), so there is never an event without its
-- change nor a change without its event.
--
-- Events are numbered per user. The statement that writes a user's events
-- first bumps that user's row here, and the row's lock holds until commit:
-- two transitions of one user commit in the order of their numbers, so a
-- reader that has seen event N has seen every earlier event of that user.
CREATE TABLE receipt_event_seq (
    user_id  TEXT   PRIMARY KEY,
    last_seq BIGINT NOT NULL CHECK (last_seq > 0)
);

CREATE TABLE receipt_events (
    user_id    TEXT        NOT NULL,
    seq        BIGINT      NOT NULL CHECK (seq > 0),
    receipt_id BIGINT      NOT NULL,
    type       TEXT        NOT NULL,
    -- The receipt's status after the transition (`deleted` once it is gone).
    status     TEXT        NOT NULL,
    data       JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, seq)
);

-- One receipt's events (`?receipt_id=`).
CREATE INDEX receipt_events_receipt_idx ON receipt_events (user_id, receipt_id, seq);
-- Pruning by age: rows arrive in time order, so a BRIN index (a few pages,
-- next to nothing to maintain per insert) finds the old ones.
CREATE INDEX receipt_events_created_idx ON receipt_events USING brin (created_at);

-- Webhook endpoints: Standard Webhooks v1. The secret signs deliveries, so
-- it is kept (and shown once, at registration).
CREATE TABLE webhook_endpoints (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         TEXT        NOT NULL,
    url             TEXT        NOT NULL,
    secret          TEXT        NOT NULL,
    event_types     TEXT[]      NOT NULL CHECK (cardinality(event_types) > 0),
    enabled         BOOLEAN     NOT NULL DEFAULT true,
    disabled_reason TEXT,
    -- Since when every delivery has failed; cleared by a success.
    failing_since   TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX webhook_endpoints_user_idx ON webhook_endpoints (user_id) WHERE enabled;

-- One event for one endpoint. Its id is the `webhook-id`, the same on every
-- try. Written with the event, in the same statement.
CREATE TABLE webhook_deliveries (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id      BIGINT      NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    user_id          TEXT        NOT NULL,
    event_type       TEXT        NOT NULL,
    -- The event's number; NULL for a test delivery.
    event_seq        BIGINT,
    payload          JSONB       NOT NULL,
    state            TEXT        NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sending', 'delivered', 'failed')),
    attempts         INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- When its message was last sent to the webhook queue (NULL: never).
    enqueued_at      TIMESTAMPTZ,
    lease_expires_at TIMESTAMPTZ,
    last_status      INTEGER,
    last_error       TEXT,
    delivered_at     TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Deliveries that still need a message in the webhook queue.
CREATE INDEX webhook_deliveries_unsent_idx ON webhook_deliveries (id)
    WHERE state = 'pending' AND enqueued_at IS NULL;
-- Deliveries in flight, for the reconciler (lost messages, expired leases).
CREATE INDEX webhook_deliveries_open_idx ON webhook_deliveries (next_attempt_at)
    WHERE state IN ('pending', 'sending');
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id DESC);
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at);

CREATE TRIGGER webhook_endpoints_updated_at BEFORE UPDATE ON webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER webhook_deliveries_updated_at BEFORE UPDATE ON webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
