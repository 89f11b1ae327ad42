// Package engine turns S3 event notifications into deliveries: it parses SQS message bodies (S3 events,
// optionally in an SNS envelope), maps each object key to its tenant, looks up the tenant's delivery
// configs, and delivers the object to every admitted destination concurrently — CloudWatch Logs through one
// streaming decode shared by all of them (parser → batcher), S3 by server-side copy.
//
// Every message, object and destination ends with an Outcome: success (delete), dropped (non-recoverable:
// delete and count by Reason) or retry (leave for redelivery). Progress is kept in a ProgressStore, one
// record per object version with an entry per destination, so that a retry, also in another process after
// a crash, repeats no delivery that succeeded and resumes CloudWatch delivery skipping exactly the events
// recorded as acknowledged (a destination's set is written to its entry each time it grows, so a crash
// re-sends at most the requests whose acknowledgement had not been recorded yet, normally those in flight).
// An object whose destinations all finish in one attempt costs two writes of its record: the lease
// (LeaseStore), which returns every destination's progress, and one final write of every outcome.
//
// A message may carry a replay marker (Replay: see package replay): it restricts the delivery to the named
// destination types, sets the CloudWatch out-of-window policy and, when forced, keeps progress under the
// replay id. It must be authenticated with a replay key (Options.ReplayKeys); a malformed, unsigned or
// forged marker drops the message as malformed.
//
// Each delivered object's result, with its destinations' typed errors and counters, is handed to
// Options.Status (a StatusRecorder: package status records per-tenant delivery status and usage from it).
//
// Poller (SQS long polling), NewLambdaHandler (Lambda SQS events with partial batch failures) and the
// Processor's Process/Plan methods (manual mode) are the three ways in; NewRuntime wires a Processor from
// the deployment's Settings.
package engine
