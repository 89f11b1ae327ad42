// Package motoserver starts and stops a private moto_server (the AWS emulator) on a free loopback port.
// It serves the test harness (internal/tools/withmoto) and the local demo.
package motoserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Server is a running moto_server. Stop it with Stop; it runs in its own process group so that Stop also
// ends the Python process behind a pyenv shim.
type Server struct {
	URL     string
	cmd     *exec.Cmd
	done    chan struct{}
	logDir  string
	logPath string
}

// Start launches bin (default "moto_server") on 127.0.0.1 and waits until it answers or wait elapses.
func Start(ctx context.Context, bin string, wait time.Duration) (*Server, error) {
	if bin == "" {
		bin = "moto_server"
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logDir, err := os.MkdirTemp("", "moto-")
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, "moto.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(logDir)
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(logDir)
		return nil, fmt.Errorf("start %s: %w (moto 5 provides moto_server)", bin, err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, done: make(chan struct{}), logDir: logDir, logPath: logPath}
	go func() { _ = cmd.Wait(); close(s.done) }()
	if err := s.waitReady(ctx, wait); err != nil {
		log := s.Log()
		s.Stop()
		return nil, fmt.Errorf("%w\nmoto_server output:\n%s", err, log)
	}
	return s, nil
}

// Log returns what the server has printed so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// Stop ends the server and its children (SIGTERM, then SIGKILL after 5 s) and removes its log. Safe to
// call more than once.
func (s *Server) Stop() {
	select {
	case <-s.done:
	default:
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	}
	os.RemoveAll(s.logDir)
}

func (s *Server) waitReady(ctx context.Context, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/moto-api/", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-s.done:
			return errors.New("moto_server exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("moto_server did not answer at %s within %s", s.URL, wait)
		case <-tick.C:
		}
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
