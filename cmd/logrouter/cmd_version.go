package main

import (
	"context"
	"fmt"
	"runtime"
)

// Stamped at build time with -ldflags "-X main.version=... -X main.commit=..." (see the Makefile).
var (
	version = "dev"
	commit  = "unknown"
)

func init() {
	register(&command{
		Name:    "version",
		Summary: "print the version, commit and Go version of this binary",
		Setup: func(fs *flagSet) runFunc {
			return func(_ context.Context, sio stdio, args []string) error {
				if len(args) != 0 {
					return usagef("version takes no arguments")
				}
				fmt.Fprintf(sio.Stdout, "logrouter %s (commit %s, %s %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
				return nil
			}
		},
	})
}
