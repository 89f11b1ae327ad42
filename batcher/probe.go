package batcher

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"
)

// StreamProbe is how a batcher finds out that its log stream exists when the ExistenceCache has never seen it
// (a new pod's stream, or any stream after the process started). CloudWatch Logs has no call that both
// checks and creates, and Describe* is not used (it is throttled per account and costs a call as well), so
// one of two calls is wasted in one of two cases:
//
//   - put first: PutLogEvents, and on ResourceNotFoundException create what is missing and send again. An
//     existing stream costs nothing extra; a new stream costs one refused PutLogEvents, once for the whole
//     fleet (the other processes' first puts find it).
//   - create first: CreateLogStream before the first PutLogEvents (ResourceAlreadyExistsException is fine). A
//     new stream costs nothing extra; an existing one costs one refused CreateLogStream in every process that
//     has not seen it: per stream and process after each restart, and in each of the N processes of a fleet
//     that share its objects (up to N-1 refused calls per new stream). CreateLogStream's quota (50/s per
//     account and region) is far below PutLogEvents' (5,000/s), so a fleet restarting with create first can
//     be throttled on tenants with many pods.
//
// Auto (the default) creates first only in a group this process created itself — a new group has only new
// streams — and puts first otherwise: a new tenant's streams cost the minimum, a restart costs nothing, and a
// pod rollout in an existing group costs one refused PutLogEvents per new stream.
//
// Whichever way, a stream or group found missing is created once per process at a time (the ExistenceCache
// serialises creations), and when PutLogEvents' answer says the log group is missing, the group is created
// before the stream rather than after a refused CreateLogStream. The bench's cost scenario measures the three
// (BENCHMARKS.md, "AWS calls per object").
type StreamProbe string

// Stream probes.
const (
	ProbeAuto        StreamProbe = "auto"
	ProbePutFirst    StreamProbe = "put-first"
	ProbeCreateFirst StreamProbe = "create-first"
)

// ParseStreamProbe parses "auto", "put-first" or "create-first" ("" is auto).
func ParseStreamProbe(s string) (StreamProbe, error) {
	switch p := StreamProbe(s); p {
	case "":
		return ProbeAuto, nil
	case ProbeAuto, ProbePutFirst, ProbeCreateFirst:
		return p, nil
	}
	return "", fmt.Errorf("unknown stream probe %q (want auto, put-first or create-first)", s)
}

// createFirst creates the stream before the first PutLogEvents when the probe says so (see StreamProbe).
func (b *Batcher) createFirst() error {
	switch b.opts.StreamProbe {
	case ProbePutFirst:
		return nil
	case ProbeCreateFirst:
	default: // auto
		if !b.opts.Existence.groupCreated(b.scope, b.dest.LogGroup) {
			return nil
		}
	}
	if b.opts.Existence.Known(b.scope, b.dest) {
		return nil
	}
	_, err := b.ensureDestination(false)
	return err
}

// groupMissing reports whether a ResourceNotFoundException says that the log group (not only the stream) is
// missing. It only orders the creation calls: a wrong guess costs a call, never a delivery, so reading the
// message is acceptable here (errors are otherwise classified by code, never by text).
func groupMissing(err error) bool {
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		return false
	}
	return strings.Contains(strings.ToLower(aws.ToString(nf.Message)), "log group")
}

func isAccessDenied(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && strings.HasPrefix(apiErr.ErrorCode(), "AccessDenied")
}
