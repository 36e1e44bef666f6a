package relayq

// The outbound route: mail from our users to recipients outside our
// domains. An outbound entry goes to the smarthost when [outbound] names
// one (STARTTLS, and AUTH PLAIN when a login is set), or else straight
// to its domain's MX hosts in order of preference, falling back to the
// domain's own addresses when it has no MX record (RFC 5321 §5.1).
// Retries follow the relay entries' rules; a permanent failure, or the
// end of outbound.queue_lifetime, returns the message to its sender with
// a delivery status notification (dsn.go).

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/stratamail/continuity/conf"
)

// Resolver looks up the MX hosts of a domain and the addresses of a
// host; *net.Resolver is one. Tests give one that answers with loopback
// addresses.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// permError is a failure of the outbound route that no retry cures:
// the recipients fail with its reply.
type permError struct{ reply string }

func (e *permError) Error() string { return e.reply }

// The permanent failures of MX resolution.
var (
	// errNoDomain: the domain has neither MX nor address records.
	errNoDomain = &permError{"550 5.1.2 the recipient domain does " +
		"not exist (no MX or address records)"}
	// errNullMX: the domain publishes a null MX, RFC 7505 §3.
	errNullMX = &permError{"556 5.1.10 the recipient domain " +
		"accepts no mail (null MX)"}
)

// failAll returns rcpts with every pending one failed when err is a
// permError, or rcpts unchanged.
func failAll(rcpts []rcpt, err error) []rcpt {
	var pe *permError
	if !errors.As(err, &pe) {
		return rcpts
	}
	out := slices.Clone(rcpts)
	for i := range out {
		if out[i].State == statePending {
			out[i].State, out[i].Reply = stateFailed, pe.reply
		}
	}
	return out
}

// outboundConf returns the current [outbound] settings.
func (q *Queue) outboundConf() conf.Outbound {
	if cfg := q.opts.Config(); cfg != nil {
		return cfg.Outbound
	}
	return conf.Outbound{QueueLifetime: conf.DefaultQueueLifetime}
}

// outboundRoute names env's route: the smarthost, or "mx:" and the
// domain.
//
// TODO: with a smarthost, each recipient domain still has its worker
// and its own connection; one worker for the smarthost would reuse one
// session for all.
func (q *Queue) outboundRoute(env *envelope) string {
	if sh := q.outboundConf().Smarthost; sh != "" {
		return sh
	}
	return "mx:" + env.Domain
}

// connectFor opens a session on env's route, named relay by relayFor.
func (q *Queue) connectFor(env *envelope, relay string) (*session,
	error) {
	switch o := q.outboundConf(); {
	case !env.outbound():
		return q.connect(relay)
	case relay == o.Smarthost:
		return q.connectSmarthost(o)
	}
	s, err := q.connectMX(env.Domain)
	if s != nil {
		s.route = relay
	}
	return s, err
}

// connectSmarthost opens a session with the smarthost of o, with
// STARTTLS (required or opportunistic) and AUTH PLAIN when o has a
// login. The password is sent only under TLS, or to loopback.
//
// TODO: the smarthost's certificate is not verified (startTLS skips
// it for primaries); with require_tls it should be, against the
// system's roots.
func (q *Queue) connectSmarthost(o conf.Outbound) (*session, error) {
	var s *session
	var err error
	if o.RequireTLS {
		s, err = q.open(o.Smarthost, true)
		if err == nil && !s.tls {
			s.close()
			err = errors.New("smarthost offers no STARTTLS and " +
				"outbound.require_tls is set")
		}
	} else {
		s, err = q.connect(o.Smarthost)
	}
	if err != nil || o.Username == "" {
		return s, err
	}
	if !s.tls && !isLoopbackHost(o.Smarthost) {
		s.close()
		return nil, errors.New("smarthost offers no STARTTLS; not " +
			"sending the password in clear text")
	}
	auth := sasl.NewPlainClient("", o.Username, o.Password)
	if err := s.c.Auth(auth); err != nil {
		s.close()
		// The error is the smarthost's reply; it has no secret.
		return nil, fmt.Errorf("smarthost login: %w", err)
	}
	return s, nil
}

// isLoopbackHost reports whether host:port names a loopback address.
func isLoopbackHost(hostport string) bool {
	host, _, _ := net.SplitHostPort(hostport)
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// connectMX opens a session with the first of domain's mail hosts that
// takes one, trying each address of each in order. A host that greets
// with our own hostname (a domain whose MX points here but is not
// configured) is refused as a loop (ErrLoop), as a relay host is.
func (q *Queue) connectMX(domain string) (*session, error) {
	ctx, cancel := context.WithTimeout(q.run.ctx, q.dialTimeout())
	hosts, err := q.mxHosts(ctx, domain)
	cancel()
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, h := range hosts {
		addrs, err := q.hostAddrs(h)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", h, err))
			continue
		}
		for _, a := range addrs {
			s, err := q.connect(net.JoinHostPort(a, q.opts.MXPort))
			if err == nil {
				return s, nil
			}
			errs = append(errs, err)
			if q.run.ctx.Err() != nil {
				return nil, err
			}
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("no address for the MX hosts of %s",
			domain)
	}
	return nil, errors.Join(errs...)
}

// mxHosts returns domain's mail hosts by preference (RFC 5321 §5.1):
// its MX hosts, or the domain itself when it has none. A domain that
// does not exist, or has a null MX, is a permError.
func (q *Queue) mxHosts(ctx context.Context, domain string) ([]string,
	error) {
	if ip, ok := addressLiteral(domain); ok {
		return []string{ip}, nil // RFC 5321 §4.1.3: no lookup
	}
	mxs, err := q.opts.Resolver.LookupMX(ctx, domain)
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsNotFound:
		return q.implicitMX(ctx, domain)
	case err != nil:
		return nil, fmt.Errorf("MX lookup: %w", err)
	case len(mxs) == 0:
		return q.implicitMX(ctx, domain)
	case len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == ""):
		return nil, errNullMX
	}
	mxs = slices.Clone(mxs)
	// Stable: the resolver's order (shuffled within a preference, as
	// net.Resolver does, RFC 5321 §5.1) is kept.
	slices.SortStableFunc(mxs, func(a, b *net.MX) int {
		return cmp.Compare(a.Pref, b.Pref)
	})
	hosts := make([]string, 0, len(mxs))
	for _, mx := range mxs {
		if h := strings.TrimSuffix(mx.Host, "."); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts, nil
}

// addressLiteral returns the IP address of an address literal such as
// [192.0.2.1] or [IPv6:2001:db8::1] (RFC 5321 §4.1.3).
func addressLiteral(domain string) (string, bool) {
	if len(domain) < 2 || domain[0] != '[' ||
		domain[len(domain)-1] != ']' {
		return "", false
	}
	lit := strings.ToLower(domain[1 : len(domain)-1])
	v6, isV6 := strings.CutPrefix(lit, "ipv6:")
	ip := net.ParseIP(v6)
	if ip == nil || isV6 != (ip.To4() == nil) {
		return "", false
	}
	return ip.String(), true
}

// implicitMX is the domain itself as its only mail host, when it has
// an address (RFC 5321 §5.1).
func (q *Queue) implicitMX(ctx context.Context, domain string) ([]string,
	error) {
	_, err := q.opts.Resolver.LookupHost(ctx, domain)
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsNotFound:
		return nil, errNoDomain
	case err != nil:
		return nil, fmt.Errorf("address lookup: %w", err)
	}
	return []string{domain}, nil
}

// hostAddrs returns the addresses of the mail host h.
func (q *Queue) hostAddrs(h string) ([]string, error) {
	if net.ParseIP(h) != nil {
		return []string{h}, nil
	}
	ctx, cancel := context.WithTimeout(q.run.ctx, q.dialTimeout())
	defer cancel()
	return q.opts.Resolver.LookupHost(ctx, h)
}

// expire fails the pending recipients of an entry that has outlived its
// queue lifetime (RFC 5321 §4.5.4.1), so that its sender gets a DSN:
// outbound.queue_lifetime on the outbound route, the domain's
// queue_lifetime for a primary.
func (q *Queue) expire(next *envelope) *envelope {
	life := q.lifetime(next)
	if len(next.pending()) == 0 || life <= 0 ||
		q.clock.Now().Sub(next.Arrived) < life {
		return next
	}
	reason := cmp.Or(next.LastError, "no answer")
	for i, r := range next.Rcpts {
		if r.State == statePending {
			next.Rcpts[i].State = stateFailed
			next.Rcpts[i].Reply = fmt.Sprintf("%s; gave up after "+
				"%s (last reply: %s)", expiredStatus,
				life.Round(time.Minute), reason)
		}
	}
	next.NextAttempt = time.Time{}
	next.LastError = firstReply(next.Rcpts, stateFailed)
	return next
}

// expiredStatus opens the reply of a recipient given up on: RFC 3463
// §3.5's 4.4.7, "delivery time expired".
const expiredStatus = "4.4.7 message expired"

// lifetime returns how long env may wait in the queue.
func (q *Queue) lifetime(env *envelope) time.Duration {
	if env.outbound() {
		return q.outboundConf().QueueLifetime
	}
	if d := lookupDomain(q.opts.Config(), env.Domain); d != nil &&
		d.QueueLifetime > 0 {
		return d.QueueLifetime
	}
	return conf.DefaultQueueLifetime
}
