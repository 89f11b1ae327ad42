package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/logrouter/logrouter/bench"
)

func init() {
	register(&command{
		Name:    "bench",
		Summary: "measure the hot path against this machine's floor; write a table, JSON and an SVG chart",
		Doc: `Generates a deterministic corpus of Vector objects, then runs each scenario in a child process of its own
(so peak RSS is per scenario and GOMAXPROCS can differ): floor-gunzip and floor-split (klauspost gunzip, and
gunzip + line split: the floor), parse (one core, and pipelined on two), deliver (parse + batch + PutLogEvents
to the strict fake CloudWatch Logs endpoint running as a separate process, fakelogs), e2e (SQS notifications
for many tenants' objects through the engine) and cost (logrouter poll on 500 small objects of 20 tenants
against moto behind a counting proxy: AWS calls per object next to the least possible, and their US$). Every throughput is related to the floor measured in the same
run; medians of --reps repetitions.

Writes the table to stdout, progress to stderr, and results.json, results.md, table.txt and chart.svg to --out.
--quick runs a reduced set (13 s on a busy 2-vCPU machine; the report records each run's time). The
machine should be otherwise idle: the numbers are only as quiet as it is.`,
		Setup: setupBench,
	})
}

type intList []int

func (l *intList) String() string {
	s := make([]string, len(*l))
	for i, v := range *l {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	var out intList
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

func setupBench(fs *flagSet) runFunc {
	var (
		quick, child, profile         bool
		out, scenarios, fakelogs, doc string
		moto                          string
		sizes, workers                intList
		reps, tenants                 int
		seed                          int
		repMiB, e2eMiB                int
	)
	fs.Bool(&quick, "quick", "LOGROUTER_BENCH_QUICK", false, "reduced set (sizes 1,16; workers 1,2; 3 reps): seconds, not minutes")
	fs.String(&out, "out", "LOGROUTER_BENCH_OUT", "bench/results", "directory for results.json, results.md, table.txt, chart.svg (\"\" = none)")
	fs.Var(&sizes, "sizes", "LOGROUTER_BENCH_SIZES", "object sizes in MiB, comma-separated (default 1,16,64,256; quick 1,16); e2e runs on sizes up to 64")
	fs.Var(&workers, "workers", "LOGROUTER_BENCH_WORKERS", "end-to-end worker counts (default 1,2,4; quick 1,2)")
	fs.String(&scenarios, "scenarios", "LOGROUTER_BENCH_SCENARIOS", "", "comma-separated subset of floor-gunzip,floor-split,parse,deliver,e2e,cost (default all)")
	fs.String(&moto, "moto", "LOGROUTER_BENCH_MOTO", "moto_server", "the AWS emulator the cost scenario starts on a free loopback port")
	fs.Int(&reps, "reps", "LOGROUTER_BENCH_REPS", 0, "timed repetitions per measurement; medians are reported (default 5; quick 3)")
	fs.Int(&repMiB, "rep-mib", "LOGROUTER_BENCH_REP_MIB", 0, "MiB processed per repetition; small objects are repeated (default 64; quick 16)")
	fs.Int(&e2eMiB, "e2e-mib", "LOGROUTER_BENCH_E2E_MIB", 0, "MiB delivered per end-to-end repetition (default 256; quick 32)")
	fs.Int(&tenants, "tenants", "LOGROUTER_BENCH_TENANTS", 8, "tenants the end-to-end objects belong to")
	fs.Int(&seed, "seed", "LOGROUTER_BENCH_SEED", 1, "corpus seed")
	fs.String(&fakelogs, "fakelogs", "LOGROUTER_BENCH_FAKELOGS", "", "the strict CloudWatch Logs endpoint binary (default: fakelogs next to logrouter, then on PATH)")
	fs.String(&doc, "doc", "LOGROUTER_BENCH_DOC", "", "Markdown file whose <!-- bench:results:begin/end --> block gets the results (make bench: BENCHMARKS.md)")
	fs.Bool(&profile, "profile", "LOGROUTER_BENCH_PROFILE", false, "write a CPU profile per measurement to OUT/profiles/")
	fs.Bool(&child, "child", "LOGROUTER_BENCH_CHILD", false, "internal: run one measurement described by JSON on stdin")
	return func(ctx context.Context, sio stdio, args []string) error {
		if len(args) != 0 {
			return usagef("bench takes no arguments")
		}
		if child {
			return runBenchChild(ctx, sio)
		}
		cfg := bench.Config{Quick: quick, Sizes: sizes, Workers: workers, Reps: reps, Tenants: tenants,
			Seed: int64(seed), RepBytes: int64(repMiB) << 20, E2EBytes: int64(e2eMiB) << 20, Progress: sio.Stderr}
		for _, s := range strings.Split(scenarios, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			sc, err := bench.ParseScenario(s)
			if err != nil {
				return usagef("--scenarios: %v", err)
			}
			cfg.Scenarios = append(cfg.Scenarios, sc)
		}
		if err := cfg.Complete(); err != nil {
			return usagef("%v", err)
		}
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find own executable: %w", err)
		}
		cfg.Launch = bench.ProcessLauncher(exe, "bench", "--child")
		cfg.Exe, cfg.Moto = exe, moto
		if fakelogs == "" {
			fakelogs = bench.FindFakeLogs(exe)
		}
		if fakelogs == "" {
			dir, err := os.MkdirTemp("", "logrouter-fakelogs-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			if fakelogs, err = bench.BuildFakeLogs(dir); err != nil {
				fmt.Fprintf(sio.Stderr, "bench: no fakelogs binary (%v; make bench builds bin/fakelogs, or pass --fakelogs): deliver and e2e will be reported as not done\n", err)
			}
		}
		if fakelogs != "" {
			cfg.Endpoint = bench.ProcessEndpoint(fakelogs)
		}
		if out != "" && profile {
			cfg.ProfileDir = out + "/profiles"
			if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
				return err
			}
		}
		rep, err := bench.Run(ctx, cfg)
		if err != nil {
			return err
		}
		rep.Version, rep.Commit = version, bench.Commit(commit)
		if err := rep.WriteTable(sio.Stdout); err != nil {
			return err
		}
		if out != "" {
			if err := bench.WriteFiles(out, rep); err != nil {
				return err
			}
			fmt.Fprintf(sio.Stderr, "bench: wrote %s/{results.json,results.md,table.txt,chart.svg}\n", out)
		}
		if doc != "" {
			if err := bench.UpdateMarkdown(doc, rep); err != nil {
				return err
			}
			fmt.Fprintf(sio.Stderr, "bench: updated the results in %s\n", doc)
		}
		return nil
	}
}

// runBenchChild runs one measurement: a bench.ChildSpec as JSON on stdin, a bench.ChildResult as JSON on stdout.
func runBenchChild(ctx context.Context, sio stdio) error {
	in, err := io.ReadAll(io.LimitReader(sio.Stdin, 16<<20))
	if err != nil {
		return err
	}
	var cs bench.ChildSpec
	if err := json.Unmarshal(in, &cs); err != nil {
		return fmt.Errorf("child spec: %w", err)
	}
	res, err := bench.RunChild(ctx, cs)
	if err != nil {
		return err
	}
	return json.NewEncoder(sio.Stdout).Encode(res)
}
