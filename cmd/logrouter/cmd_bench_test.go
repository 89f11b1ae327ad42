package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logrouter/logrouter/bench"
	"github.com/logrouter/logrouter/bench/corpus"
)

func benchRun(t *testing.T, stdin string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), stdio{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut},
		append([]string{"bench"}, args...), func(k string) string { return env[k] })
	return code, out.String(), errOut.String()
}

func TestBenchChildMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "obj.log.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := corpus.Generate(f, corpus.Options{Seed: 1, TargetBytes: 200 << 10})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(bench.ChildSpec{Spec: bench.Spec{Scenario: bench.FloorSplit, Procs: 1, SizeMiB: 1},
		Objects: []string{path}, Reps: 2, Iterations: 1})
	code, stdout, stderr := benchRun(t, string(spec), nil, "--child")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res bench.ChildResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	if len(res.Reps) != 2 || res.Reps[1].Events != sum.Lines || res.Reps[1].UncompressedBytes != sum.UncompressedBytes {
		t.Errorf("child result %+v, corpus %+v", res, sum)
	}

	if code, _, stderr := benchRun(t, "{not json", nil, "--child"); code != 1 || !strings.Contains(stderr, "child spec") {
		t.Errorf("bad spec: exit %d, %q", code, stderr)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	tests := map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"size zero":          {args: []string{"--sizes", "1,0"}, want: "positive integer"},
		"unknown scenario":   {args: []string{"--scenarios", "parse,nope"}, want: "unknown scenario"},
		"env twin validated": {env: map[string]string{"LOGROUTER_BENCH_WORKERS": "x"}, want: "LOGROUTER_BENCH_WORKERS"},
		"too many reps":      {args: []string{"--reps", "1000"}, want: "reps 1000"},
		"positional":         {args: []string{"extra"}, want: "no arguments"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := benchRun(t, "", tc.env, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

func TestIntList(t *testing.T) {
	var l intList
	if err := l.Set(" 1, 16 ,64,"); err != nil || l.String() != "1,16,64" {
		t.Errorf("%v %q", err, l.String())
	}
	if err := l.Set("1,-2"); err == nil {
		t.Error("negative accepted")
	}
}
