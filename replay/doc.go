// Package replay re-delivers a tenant's objects from the central bucket, and moves messages from the
// dead-letter queue back to the main queue (Redrive).
//
// A replay lists the tenant's objects (List), keeps those whose time falls in the window, and either
// enqueues them as signed replay notifications on the main queue (Enqueue), so that the poller fleet
// delivers them, or delivers them in this process through the engine's Processor (Deliver).
//
// Listing. The central bucket's keys are {cluster_id}/{tenant_id}/{application}/{pod_name}/{file}: List
// reads the cluster prefixes with a "/" delimiter one page at a time (or takes the clusters it is given),
// then lists {cluster}/{tenant}/ (or {cluster}/{tenant}/{application}/ for each application asked for), one
// page at a time. Memory stays constant whatever the number of keys; objects come in key order, so a
// replay stopped after key K continues exactly with --start-after K.
//
// Time. An object's time is its LastModified from the listing: the moment Vector wrote it, which is at or
// shortly after (by the sink's batch timeout) the newest event it holds. It is free (no GetObject), and it is
// the time an operator reads in the bucket and in the status ("failing since ..."). An object is in the
// window when since <= LastModified < until.
//
// Idempotence. A replay notification names the object version (ETag) as S3's own notification does, so the
// processor finds the progress of the original delivery: a destination already done for that version is
// skipped. Force delivers again under progress records of the replay id: that duplicates on purpose.
//
// CloudWatch accepts events at most 14 days old. Replays drop older events by default (counted by the
// processor as dropped out of window) or clamp them to the window's edge when asked; the listing counts the
// objects written more than 14 days ago (all their events are too old) and, for a CloudWatch-only
// replay with the drop policy, does not enqueue them at all.
package replay
