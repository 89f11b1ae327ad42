package batcher

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// TestRequestBody checks the body written on demand: valid JSON holding the events as given, exactly
// request.size bytes long, the same however it is read, and rewound or repositioned by Seek as the SDK
// does for signing and retries.
func TestRequestBody(t *testing.T) {
	prefix := []byte(`{"logGroupName":"g","logStreamName":"s","logEvents":[`)
	tests := map[string]struct {
		ts    []int64
		wires []string
	}{
		"no events":  {nil, nil},
		"one event":  {[]int64{1764844440123}, []string{`hello \"world\"`}},
		"empty wire": {[]int64{5, 6}, []string{``, `x`}},
		"several":    {[]int64{1, 22, 333, 1764844440123}, []string{`a`, `b\nc`, `é`, `{\"k\":1}`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req := &request{size: len(prefix) + len("]}")}
			for i, w := range tc.wires {
				req.ts = append(req.ts, tc.ts[i])
				req.wires = append(req.wires, []byte(w))
				req.size += eventJSONLen(i == 0, tc.ts[i], len(w))
			}
			body := newRequestBody(prefix, req)
			if body.Len() != req.size {
				t.Fatalf("Len %d, size %d", body.Len(), req.size)
			}
			all, err := io.ReadAll(body)
			if err != nil || len(all) != req.size || body.Len() != 0 {
				t.Fatalf("read %d bytes of %d (%v), Len after %d", len(all), req.size, err, body.Len())
			}
			var got struct {
				LogGroupName, LogStreamName string
				LogEvents                   []struct {
					Timestamp int64
					Message   string
				}
			}
			if err := json.Unmarshal(all, &got); err != nil {
				t.Fatalf("%s: %v", all, err)
			}
			if len(got.LogEvents) != len(tc.ts) {
				t.Fatalf("%d events, want %d", len(got.LogEvents), len(tc.ts))
			}
			for i, e := range got.LogEvents {
				if e.Timestamp != tc.ts[i] || e.Message != textOf(Event{Message: []byte(tc.wires[i]), Escaped: true}) {
					t.Errorf("event %d: %+v", i, e)
				}
			}
			// Read in 3-byte steps after a rewind, then reposition in the middle.
			if pos, err := body.Seek(0, io.SeekStart); err != nil || pos != 0 || body.Len() != req.size {
				t.Fatalf("rewind: %d %v, Len %d", pos, err, body.Len())
			}
			var small bytes.Buffer
			buf := make([]byte, 3)
			for {
				n, err := body.Read(buf)
				small.Write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(small.Bytes(), all) {
				t.Fatalf("3-byte reads gave %s, want %s", small.Bytes(), all)
			}
			mid := int64(req.size / 2)
			if pos, err := body.Seek(mid, io.SeekStart); err != nil || pos != mid {
				t.Fatalf("seek to %d: %d %v", mid, pos, err)
			}
			if cur, _ := body.Seek(0, io.SeekCurrent); cur != mid {
				t.Fatalf("current position %d, want %d", cur, mid)
			}
			rest, _ := io.ReadAll(body)
			if !bytes.Equal(rest, all[mid:]) {
				t.Fatalf("from %d: %s, want %s", mid, rest, all[mid:])
			}
			if _, err := body.Seek(int64(req.size)+1, io.SeekStart); err == nil {
				t.Error("seek past the end accepted")
			}
		})
	}
}

// Reading a body allocates nothing per event (it is read twice per attempt, for the signature and the send).
func TestRequestBodyReadAllocs(t *testing.T) {
	req := &request{size: 2}
	for i := range 1000 {
		req.ts = append(req.ts, int64(1764844440000+i))
		req.wires = append(req.wires, []byte(`some message \"quoted\"`))
		req.size += eventJSONLen(i == 0, req.ts[i], len(req.wires[i]))
	}
	body := newRequestBody(nil, req)
	buf := make([]byte, 32<<10)
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := body.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			m, err := body.Read(buf)
			n += m
			if err == io.EOF {
				break
			}
		}
		if n != req.size {
			t.Fatalf("read %d bytes, want %d", n, req.size)
		}
	})
	if allocs > 0 {
		t.Errorf("%.0f allocations per read of a 1,000-event body", allocs)
	}
}
