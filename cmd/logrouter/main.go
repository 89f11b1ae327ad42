// Command logrouter delivers multi-tenant Kubernetes logs from a central S3 bucket to each tenant's
// CloudWatch Logs and S3 destinations. Run `logrouter help` for its commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, stdio{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, lambdaDefault(os.Args[1:], os.Getenv), os.Getenv)
	stop()
	os.Exit(code)
}
