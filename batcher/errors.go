package batcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Error is a terminal batcher error. errors.As(err, &apiErr) with a smithy.APIError works through it.
type Error struct {
	Op        string // "PutLogEvents", "CreateLogGroup", ...
	Dest      Destination
	Attempts  int
	Retryable bool // the caller may redeliver later: throttling, 5xx, network, context cancellation
	Err       error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s to %s/%s (after %d attempts): %v", e.Op, e.Dest.LogGroup, e.Dest.LogStream, e.Attempts, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// IsRetryable reports whether err is transient: throttling, a 5xx, a network failure (also after the retry
// policy gave up) or a cancelled/expired context. A caller may redeliver the unacknowledged events later.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var be *Error
	if errors.As(err, &be) {
		return be.Retryable
	}
	c := classify(err)
	return c == classThrottle || c == classServer || c == classNetwork || c == classCanceled
}

type errClass uint8

const (
	classTerminal errClass = iota
	classThrottle
	classServer
	classNetwork
	classNotFound
	classCanceled
)

func (c errClass) String() string {
	switch c {
	case classThrottle:
		return "throttled"
	case classServer:
		return "server_error"
	case classNetwork:
		return "network"
	case classNotFound:
		return "not_found"
	case classCanceled:
		return "canceled"
	}
	return "error"
}

func (c errClass) transient() bool {
	return c == classThrottle || c == classServer || c == classNetwork
}

// classify sorts an SDK error by its type, modelled error code and HTTP status; never by its text.
func classify(err error) errClass {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return classCanceled
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
			"ProvisionedThroughputExceededException", "SlowDown":
			return classThrottle
		case "ServiceUnavailableException", "ServiceUnavailable", "InternalFailure", "InternalServerError",
			"RequestTimeout", "RequestTimeoutException":
			return classServer
		case "ResourceNotFoundException":
			return classNotFound
		}
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		switch s := respErr.HTTPStatusCode(); {
		case s == 429:
			return classThrottle
		case s >= 500:
			return classServer
		}
		if apiErr != nil {
			return classTerminal
		}
	}
	var sendErr *smithyhttp.RequestSendError
	var netErr net.Error
	var deserErr *smithy.DeserializationError
	switch {
	case errors.As(err, &sendErr), errors.As(err, &netErr), errors.As(err, &deserErr),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		return classNetwork
	}
	return classTerminal
}
