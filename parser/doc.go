// Package parser streams the events of one Vector object: an S3 object body of NDJSON records in Vector's
// kubernetes_logs shape, gzip-compressed (one or several members) or not, recognised by content. It holds one
// line at a time, never the object: memory is bounded by the longest line, and Options.MaxLineBytes caps it.
//
// # Lines
//
// Each line is a Vector record, a JSON object. Its `message` string is delivered byte for byte, still
// escaped (Event.Escaped), so that a JSON writer downstream can copy it without unescaping and escaping it
// again; an object or array message is delivered as its compact JSON; a record without `message` becomes the
// record minus Vector's fields (cluster_id, namespace, application, pod_name, ingest_timestamp, timestamp,
// kubernetes, file, source_type, stream). The metadata fields cluster_id, namespace, application and
// pod_name are read into the event. A JSON array on a line yields one event per element; any other JSON
// value is its own message. A line that is not valid JSON is not dropped: its raw text is the message (and
// it is counted in Stats.MalformedLines). Blank lines are skipped; CRLF line ends are handled.
//
// # Timestamps
//
// The first rule that matches wins, and Event.Source says which:
//
//   - message_json: the message is a JSON object (an object value, or a string holding one) with a field
//     ts, time, timestamp, @timestamp, stageTimestamp or requestReceivedTimestamp (tried in that order)
//     holding an RFC 3339/ISO-8601 string or a Unix time as a number or numeric string. A Unix time's unit is
//     decided by magnitude: below 1e11 seconds, below 1e14 milliseconds, below 1e17 microseconds, else
//     nanoseconds; values before 2001-09-09 (1e9 s) are taken for durations or counters and do not match.
//   - a text message: first the anchored prefixes, because a header at the start of a line is the writer's own
//     timestamp — message_iso8601 (a leading ISO-8601 date-time, optionally after one '['), message_klog
//     (I0830 11:27:01.564974), message_golog (2025/08/30 10:33:20 with optional .micro), message_syslog
//     (Aug 30 10:33:20) — then message_logfmt, a `time=` or `ts=` key anywhere in the line.
//   - vector: the record's own `timestamp`.
//   - fallback: the time passed to NewReader (the object's LastModified). Nothing uses the wall clock.
//
// ISO-8601 date-times have a `T`, `t` or space between date and time, 1-9 fraction digits and a zone of
// Z, z, ±hh:mm, ±hhmm or ±hh; without a zone they are UTC. klog and syslog have no year: it is the year of
// the Vector timestamp (or of the fallback), or the year before when that would put the line more than a day
// after it (written on Dec 31, collected on Jan 1). Invalid dates and times (2025-02-30, hour 25) do not
// match. Timestamps are truncated to milliseconds.
//
// # How it is built
//
// Decompression is klauspost/compress/gzip; Options.Pipeline runs it on its own goroutine, which fills a
// ring of three buffers while Next parses, so that two cores work on one object. Once Next has returned its
// final error (io.EOF included), the Reader's buffers and decompressor go to a pool that the next Reader
// draws from; a Reader closed before that keeps them, so its last event stays valid.
//
// The hot path does not decode records. A purpose-built scanner walks the top-level members of each record,
// notes where the values of the few keys it needs lie, and jumps over everything else — nested objects by
// hopping between their brackets and counting quotes in between with vectorised byte searches (exact
// string-by-string skipping where a backslash appears). A nested value that is byte for byte one of the last
// few it skipped (the `kubernetes` metadata repeats on every line of a container) is passed over with one
// memory comparison. Measured on Vector's records, where the message is a
// tenth of the bytes and the rest is pod metadata, this is faster than goccy/go-json's Unmarshal into a
// two-field struct, which still has to tokenize every skipped string. goccy/go-json does the rest, where its
// full validation is wanted and the volume is small: compacting object and array messages, building the
// record-minus-Vector-fields message, validating array lines and other non-object lines. The scanner checks
// the top level of a record (keys, colons, commas, string termination, balanced brackets, nothing after the
// object) and the message itself, but not the inside of the nested values it skips: a record whose skipped
// metadata is malformed still yields its message.
package parser
