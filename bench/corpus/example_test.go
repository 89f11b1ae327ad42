package corpus_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/logrouter/logrouter/bench/corpus"
)

func ExampleGenerate() {
	var obj bytes.Buffer
	sum, err := corpus.Generate(&obj, corpus.Options{
		Seed:        1,
		TargetBytes: 1 << 20,
		Start:       time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		ClusterID:   "cluster-1", Namespace: "tenant-a", Application: "kube-apiserver", PodName: "kube-apiserver-0",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(sum.UncompressedBytes <= 1<<20, sum.UncompressedBytes > 1<<20-corpus.MinLineBytes)
	fmt.Println(sum.CompressedBytes == int64(obj.Len()))
	// Output:
	// true true
	// true
}
