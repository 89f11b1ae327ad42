package batcher_test

import (
	"context"
	"fmt"
	"time"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/internal/cwlfake"
)

func Example() {
	srv := cwlfake.NewServer(cwlfake.New()) // a strict local CloudWatch Logs endpoint
	defer srv.Close()

	dest := batcher.Destination{LogGroup: "/tenant-a/payments", LogStream: "pod-1"}
	b := batcher.New(context.Background(), srv.Client(), "123456789012/us-east-1", dest, func(o *batcher.Options) {
		o.RetentionDays = 30 // applied when the batcher creates the missing group
	})
	now := time.Now().UnixMilli()
	for i, msg := range []string{`payment \"p-1\" accepted`, ``, `caf\u00e9 ordered`} {
		// Messages as they appear inside the input JSON line: escapes intact.
		if err := b.Add(batcher.Event{Timestamp: now + int64(i), Message: []byte(msg), Escaped: true}); err != nil {
			fmt.Println("add:", err)
			return
		}
	}
	res, err := b.Close()
	fmt.Println("acked:", res.Acked, "sent:", res.Stats.EventsOut, "empty dropped:", res.Stats.DroppedEmpty, "error:", err)
	for _, e := range srv.Events(dest.LogGroup, dest.LogStream) {
		fmt.Println(e.Message)
	}
	// Output:
	// acked: 3 sent: 2 empty dropped: 1 error: <nil>
	// payment "p-1" accepted
	// café ordered
}
