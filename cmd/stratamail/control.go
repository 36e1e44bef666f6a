package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// The control socket lets the CLI ask a running server to act (flush a
// queue) without a restart. It is a Unix socket in the data directory,
// mode 0600, so only the service's own user (and root) can use it. One
// JSON request per connection, one JSON reply.

const controlSocket = "control.sock"

type controlRequest struct {
	Op     string `json:"op"`
	Domain string `json:"domain,omitempty"`
}

type controlReply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

type controlServer struct {
	ln  net.Listener
	svc *service
}

// listenControl binds the control socket, replacing a stale one left by a
// crash but refusing to steal one a running server answers on.
func listenControl(dataDir string, svc *service) (*controlServer, error) {
	path := filepath.Join(dataDir, controlSocket)
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("another stratamail serves %s", dataDir)
	}
	os.Remove(path)
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &controlServer{ln: ln, svc: svc}, nil
}

// Serve answers control requests until Close.
func (c *controlServer) Serve() error {
	for {
		conn, err := c.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		} else if err != nil {
			return err
		}
		go c.handle(conn)
	}
}

// Close stops the control socket and removes its file.
func (c *controlServer) Close() error { return c.ln.Close() }

func (c *controlServer) handle(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	var req controlRequest
	r := bufio.NewReader(conn)
	err := json.NewDecoder(r).Decode(&req)
	reply := controlReply{OK: err == nil}
	if err != nil {
		reply.Error = "bad request"
	} else if err := c.do(req); err != nil {
		reply.OK, reply.Error = false, err.Error()
	}
	json.NewEncoder(conn).Encode(reply)
}

func (c *controlServer) do(req controlRequest) error {
	switch req.Op {
	case "flush":
		c.svc.log.Info("queue flush requested", "domain", req.Domain)
		c.svc.queue.Flush(req.Domain)
		return nil
	}
	return fmt.Errorf("unknown operation %q", req.Op)
}

// errNotRunning says no server answers on the control socket.
var errNotRunning = errors.New("no running stratamail answers on the " +
	"control socket")

// callControl sends one request to the server running on dataDir.
func callControl(dataDir string, req controlRequest) error {
	path := filepath.Join(dataDir, controlSocket)
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return fmt.Errorf("%w (%s)", errNotRunning, path)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return err
	}
	var reply controlReply
	if err := json.NewDecoder(conn).Decode(&reply); err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if !reply.OK {
		return errors.New(reply.Error)
	}
	return nil
}
