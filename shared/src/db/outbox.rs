//! The outbox: what every status-changing statement appends, so that the
//! change, its event and its webhook deliveries commit together.

/// The outbox, appended to every statement that changes a receipt's status.
/// The statement's CTE `moved` returns one row per event it makes
/// (`id, user_id, ev_type, ocr_status, attempts, last_error, ev_rank`;
/// `ev_rank` orders two events of one receipt). The events are numbered
/// per user under the lock of the user's `receipt_event_seq` row (taken in
/// user order, held to commit) and written, with one webhook delivery per
/// enabled endpoint of the user subscribed to the event's type. A
/// transition that did not happen returns no row, so it writes nothing.
const OUTBOX: &str = "\
 ev_seq AS ( \
     INSERT INTO receipt_event_seq AS s (user_id, last_seq) \
     SELECT user_id, count(*) FROM moved GROUP BY user_id ORDER BY user_id \
     ON CONFLICT (user_id) DO UPDATE SET last_seq = s.last_seq + EXCLUDED.last_seq \
     RETURNING user_id, last_seq), \
 numbered AS ( \
     SELECT m.user_id, m.id, m.ev_type, m.ocr_status, now() AS at, \
         ev_seq.last_seq - count(*) OVER (PARTITION BY m.user_id) \
             + row_number() OVER (PARTITION BY m.user_id ORDER BY m.id, m.ev_rank) AS seq, \
         jsonb_build_object('receipt_id', m.id, 'status', m.ocr_status, 'attempts', m.attempts, \
             'error', m.last_error) \
             || coalesce((SELECT jsonb_build_object('summary', su.data) FROM summary su \
                 WHERE su.id = m.id), '{}'::jsonb) AS data \
     FROM moved m JOIN ev_seq USING (user_id)), \
 ev_rows AS ( \
     INSERT INTO receipt_events (user_id, seq, receipt_id, type, status, data, created_at) \
     SELECT user_id, seq, id, ev_type, ocr_status, data, at FROM numbered), \
 ev_deliveries AS ( \
     INSERT INTO webhook_deliveries (endpoint_id, user_id, event_type, event_seq, payload) \
     SELECT e.id, n.user_id, n.ev_type, n.seq, jsonb_build_object('type', n.ev_type, \
         'timestamp', to_char(n.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
         'data', n.data || jsonb_build_object('event_id', n.seq)) \
     FROM numbered n JOIN webhook_endpoints e \
         ON e.user_id = n.user_id AND e.enabled AND n.ev_type = ANY (e.event_types)) ";

/// The CTEs that mark up to `limit` (an SQL expression) of user `$1`'s
/// oldest receipts in status `$3` as queued, at priority `$4` (or their
/// own), defining `done` and `moved` for the outbox.
pub(crate) fn mark_ctes(limit: &str) -> String {
    format!(
        "picked AS MATERIALIZED ( \
             SELECT id FROM receipts WHERE user_id = $1 AND ocr_status = $3 \
             ORDER BY created_at, id LIMIT {limit} FOR NO KEY UPDATE SKIP LOCKED), \
         done AS (UPDATE receipts r SET ocr_status = 'queued', queued_at = now(), \
             dead_lettered_at = NULL, priority = coalesce($4, r.priority) \
             FROM picked WHERE r.id = picked.id AND r.ocr_status = $3 \
             RETURNING r.id, r.user_id, r.bucket, r.object_key, r.priority, r.ocr_status, \
                 r.attempts, r.last_error), \
         moved AS (SELECT id, user_id, \
             CASE WHEN $3 = 'pending' THEN 'receipt.queued' ELSE 'receipt.requeued' END AS ev_type, \
             ocr_status, attempts, last_error, 0 AS ev_rank FROM done)"
    )
}

/// `WITH {ctes}, <the outbox> {main}`: `ctes` defines `moved`.
pub(crate) fn with_outbox(ctes: &str, main: &str) -> String {
    with_outbox_summary(
        ctes,
        "SELECT NULL::bigint AS id, NULL::jsonb AS data WHERE false",
        main,
    )
}

/// [`with_outbox`], with `summary` (`id`, `data`): what an event of a
/// moved receipt says of it beyond its status (a completed receipt's
/// merchant, date, total…), as `data.summary`.
pub(super) fn with_outbox_summary(ctes: &str, summary: &str, main: &str) -> String {
    format!("WITH {ctes}, summary AS ({summary}), {OUTBOX} {main}")
}

/// A completed receipt's summary in its event and webhook payload: what a
/// receiver needs without calling back. Decimals as strings, as the API
/// gives them.
pub(super) const COMPLETED_SUMMARY: &str = "SELECT id, jsonb_build_object('merchant', $3::text, \
     'purchase_date', $5::date, 'total', $9::numeric::text, 'currency', $6::text, \
     'item_count', cardinality($15::int[]), 'confidence', $12::float8) AS data FROM held";
