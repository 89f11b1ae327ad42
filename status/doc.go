// Package status records, per tenant and destination type, whether delivery works and what it costs, and
// reads it back for the API.
//
// The engine hands every delivered object's result to a Recorder (engine.StatusRecorder). The recorder
// aggregates in memory and writes on an interval (Run; default 30 s, and once more at shutdown; Flush for
// lambda invocations and one-shot runs) to the status table (LOGROUTER_STATUS_TABLE):
//
//   - pk "tenant#<id>", sk "status#<type>": last success (time, object key), last failure (time, object key,
//     category, reason, scrubbed message), last warning (events rejected), consecutive failures and the
//     time the current run of failures began, lifetime and hourly (last 24 h) counters.
//   - pk "tenant#<id>", sk "usage#<YYYY-MM-DD>#<type>": the UTC day's usage counters (see UsageCounters),
//     expiring after the usage retention (expires_at, default 400 days). The usage-by-date index lists one
//     day across tenants.
//
// Write cost: per flush and process at most one status write per tenant × type with outcomes and one usage
// write per tenant × type × UTC day touched, whatever the object rate. Usage counters are added atomically
// (ADD), so any number of processes sum exactly. A status write reads the item, merges and writes
// conditioned on the version it read (retried on a concurrent update): "last" values only replace older
// ones; see merge for how consecutive failures combine.
//
// Failures are classified once (Classify) from typed errors — credentials' hop errors, the batcher's
// operation, smithy API error codes — never from message text; each category has a customer-actionable
// hint (Hint). Messages are scrubbed of credentials and ExternalIds (Scrub) before they are stored.
// Health (healthy, failing, idle, unknown) is derived when reading.
//
// The last 24 h counters of a status item are hourly attributes (h<YYYYMMDDHH>_<counter>), added like the
// others; each write removes the hours 25 to 48 hours old. Hours older than that remain only after a
// silence of more than a day; readers ignore them.
package status
