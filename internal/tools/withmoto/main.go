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
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
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
	port, err := freePort()
	if err != nil {
		fmt.Fprintln(os.Stderr, "withmoto:", err)
		return 1
	}
	logDir, err := os.MkdirTemp("", "withmoto-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "withmoto:", err)
		return 1
	}
	defer os.RemoveAll(logDir)
	logPath := filepath.Join(logDir, "moto.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "withmoto:", err)
		return 1
	}
	defer logFile.Close()

	moto := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	moto.Stdout, moto.Stderr = logFile, logFile
	moto.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := moto.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "withmoto: start %s: %v (moto 5 provides moto_server)\n", bin, err)
		return 1
	}
	motoDone := make(chan struct{})
	go func() { _ = moto.Wait(); close(motoDone) }()
	defer stopGroup(moto.Process.Pid, motoDone)

	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitReady(endpoint, wait, motoDone); err != nil {
		log, _ := os.ReadFile(logPath)
		fmt.Fprintf(os.Stderr, "withmoto: %v\nmoto_server output:\n%s\n", err, log)
		return 1
	}
	fmt.Fprintf(os.Stderr, "withmoto: moto_server ready at %s\n", endpoint)

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "LOGROUTER_TEST_AWS_ENDPOINT="+endpoint)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "withmoto:", err)
		return 1
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	signal.Stop(sigs)
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

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(endpoint string, wait time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/moto-api/", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("moto_server exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("moto_server did not answer at %s within %s", endpoint, wait)
		case <-tick.C:
		}
	}
}

// stopGroup ends moto_server and every process it started (the pyenv shim execs a Python child).
func stopGroup(pid int, done <-chan struct{}) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
}
