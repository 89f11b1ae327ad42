package status

import (
	"testing"

	"github.com/logrouter/logrouter/batcher"
	"github.com/logrouter/logrouter/engine"
	"github.com/logrouter/logrouter/tenant"
)

// BenchmarkRecordObject is the recorder's cost per delivered object on the delivering goroutine (in memory;
// writes happen at flush), for a fleet of 1,000 tenants with both destination types.
func BenchmarkRecordObject(b *testing.B) {
	r, err := NewRecorder(NewTable(nil, "t"), RecorderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	results := make([]engine.ObjectResult, 1000)
	for i := range results {
		results[i] = engine.ObjectResult{TenantID: "tenant-" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)), Key: "c/t/a/p/f.log.gz",
			EventsRead: 5000, BytesRead: 200 << 10, BytesUncompressed: 2 << 20,
			Destinations: []engine.DestinationResult{
				{Type: tenant.TypeCloudWatch, Events: 5000, Requests: 2, Bytes: 2 << 20, Stats: &batcher.Stats{EventsIn: 5000}},
				{Type: tenant.TypeS3, Bytes: 200 << 10},
			}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.RecordObject(results[i%len(results)])
	}
}
