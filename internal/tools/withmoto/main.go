// Command withmoto runs a command with a private moto_server (the AWS emulator) on a free loopback port.
//
//	go run ./internal/tools/withmoto -- go test ./...
//
// The server's URL is passed to the command in LOGROUTER_TEST_AWS_ENDPOINT (see internal/testaws). The
// server is stopped when the command ends, fails, or withmoto is interrupted; withmoto exits with the
// command's status.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/logrouter/logrouter/internal/motoserver"
)

func main() {
	bin := flag.String("moto", "moto_server", "moto server executable")
	wait := flag.Duration("wait", 60*time.Second, "how long to wait for the server to answer")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: withmoto [-moto PATH] -- COMMAND [ARGS...]")
		os.Exit(2)
	}
	os.Exit(runWithMoto(*bin, *wait, flag.Args()))
}

func runWithMoto(bin string, wait time.Duration, argv []string) int {
	srv, err := motoserver.Start(context.Background(), bin, wait)
	if err != nil {
		fmt.Fprintln(os.Stderr, "withmoto:", err)
		return 1
	}
	defer srv.Stop()
	fmt.Fprintf(os.Stderr, "withmoto: moto_server ready at %s\n", srv.URL)

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "LOGROUTER_TEST_AWS_ENDPOINT="+srv.URL)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "withmoto:", err)
		return 1
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if code := ee.ExitCode(); code > 0 {
			return code
		}
		return 1
	default:
		fmt.Fprintln(os.Stderr, "withmoto:", err)
		return 1
	}
}
