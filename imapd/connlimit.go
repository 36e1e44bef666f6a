package imapd

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// maxConnsPerAddr is the most IMAP connections one client address may
// hold at once, as on port 25; loopback (a webmail on this host, which
// opens one per request) is exempt.
const maxConnsPerAddr = 20

// limitListener turns away a client address over maxConnsPerAddr with
// a BYE, before go-imap sees the connection.
type limitListener struct {
	net.Listener
	exemptLoopback bool

	mu    sync.Mutex
	conns map[netip.Addr]int
}

func newLimitListener(l net.Listener, exemptLoopback bool) *limitListener {
	return &limitListener{Listener: l, exemptLoopback: exemptLoopback,
		conns: map[netip.Addr]int{}}
}

// Accept returns the next connection within the limit.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		l.mu.Lock()
		busy := !(ip.IsLoopback() && l.exemptLoopback) &&
			l.conns[ip] >= maxConnsPerAddr
		if !busy {
			l.conns[ip]++
		}
		l.mu.Unlock()
		if busy {
			go refuseBusy(c)
			continue
		}
		return &countedConn{Conn: c, l: l, ip: ip}, nil
	}
}

// refuseBusy says why and closes c; a slow reader does not hold up
// Accept.
func refuseBusy(c net.Conn) {
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("* BYE [UNAVAILABLE] Too many connections from " +
		"your address\r\n"))
	c.Close()
}

// countedConn gives its place back when closed.
type countedConn struct {
	net.Conn
	l    *limitListener
	ip   netip.Addr
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.conns[c.ip]--; c.l.conns[c.ip] <= 0 {
			delete(c.l.conns, c.ip)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
