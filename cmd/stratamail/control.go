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

	"github.com/stratamail/continuity/relayq"
)

// The control socket lets the CLI ask a running server to act (flush a
// queue) without a restart. It is a Unix socket in the data directory,
// mode 0600, so only the service's own user (and root) can use it. One
// JSON request per connection, one JSON reply.

const controlSocket = "control.sock"

// controlRequest is one request: a queue operation (flush, delete,
// hold, release) on the entries IDs or, without IDs, on Domain's; or
// "status", which asks how the configuration was loaded.
type controlRequest struct {
	Op     string   `json:"op"`
	Domain string   `json:"domain,omitempty"`
	IDs    []string `json:"ids,omitempty"`
}

// controlReply answers a request. Count is the number of entries a
// queue operation acted on; Failed says why others were not.
type controlReply struct {
	OK     bool          `json:"ok"`
	Error  string        `json:"error,omitempty"`
	Count  int           `json:"count"`
	Failed []string      `json:"failed,omitempty"`
	Reload *ReloadStatus `json:"reload,omitempty"`
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
	var reply controlReply
	if err := json.NewDecoder(r).Decode(&req); err != nil {
		reply.Error = "bad request"
	} else if req.Op == "status" {
		st := c.svc.reloadStatus()
		reply.OK, reply.Reload = true, &st
	} else {
		c.svc.log.Info("queue operation requested", "op", req.Op,
			"domain", req.Domain, "ids", req.IDs)
		reply = queueOp(c.svc.queue, req)
	}
	json.NewEncoder(conn).Encode(reply)
}

// queueOp carries out a queue operation on q, for the control socket or
// for the CLI itself when no server runs.
func queueOp(q *relayq.Queue, req controlRequest) controlReply {
	var act func(id string) error
	switch req.Op {
	case "flush":
		if len(req.IDs) == 0 {
			q.Flush(req.Domain)
			entries, _ := q.List(req.Domain)
			n := 0
			for _, e := range entries {
				if !e.Held { // held entries stay held
					n++
				}
			}
			return controlReply{OK: true, Count: n}
		}
		act = q.Retry
	case "delete":
		act = q.Remove
	case "hold":
		act = q.Hold
	case "release":
		act = q.Release
	default:
		return controlReply{Error: fmt.Sprintf("unknown operation %q",
			req.Op)}
	}
	ids := req.IDs
	if len(ids) == 0 && req.Domain == "" {
		return controlReply{Error: req.Op + " needs IDs or a domain"}
	}
	if len(ids) == 0 {
		// A whole domain's entries.
		entries, _ := q.List(req.Domain)
		for _, e := range entries {
			ids = append(ids, e.ID)
		}
	}
	reply := controlReply{OK: true}
	for _, id := range ids {
		if err := act(id); err != nil {
			reply.Failed = append(reply.Failed,
				fmt.Sprintf("%s: %v", id, err))
			continue
		}
		reply.Count++
	}
	return reply
}

// errNotRunning says no server answers on the control socket.
var errNotRunning = errors.New("no running stratamail answers on the " +
	"control socket")

// callControl sends one request to the server running on dataDir.
func callControl(dataDir string, req controlRequest) (controlReply,
	error) {
	path := filepath.Join(dataDir, controlSocket)
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return controlReply{}, fmt.Errorf("%w (%s)", errNotRunning, path)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return controlReply{}, err
	}
	var reply controlReply
	if err := json.NewDecoder(conn).Decode(&reply); err != nil {
		return controlReply{}, fmt.Errorf("control socket: %w", err)
	}
	if !reply.OK {
		return reply, errors.New(reply.Error)
	}
	return reply, nil
}
