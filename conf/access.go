package conf

import (
	"net/netip"
	"slices"
	"strings"
)

// Networks is an accept_from list: the client networks allowed to
// deliver mail for a domain over SMTP.
type Networks []netip.Prefix

// Contains reports whether ip is in one of the networks. An IPv4
// address mapped into IPv6 (::ffff:192.0.2.1) counts as IPv4.
func (ns Networks) Contains(ip netip.Addr) bool {
	ip = ip.Unmap()
	return slices.ContainsFunc(ns, func(p netip.Prefix) bool {
		return p.Contains(ip)
	})
}

// AcceptsFrom reports whether a client at ip may deliver mail for d:
// d's accept_from if the entry sets one, else [smtp] accept_from; no
// list at all (or an empty one) accepts from anywhere, as a DNS
// secondary MX must.
func (c *Config) AcceptsFrom(d *Domain, ip netip.Addr) bool {
	nets := c.SMTP.AcceptFrom
	if d.AcceptFrom != nil {
		nets = d.AcceptFrom
	}
	return len(nets) == 0 || nets.Contains(ip)
}

// networks returns the checked accept_from array of t at path, nil when
// absent and non-nil (perhaps empty) when given.
func (p *parser) networks(t map[string]any, path string) Networks {
	list, ok := p.getStrings(t, path, "accept_from")
	if !ok {
		return nil
	}
	key := joinKey(path, "accept_from")
	nets := Networks{}
	for i, s := range list {
		n, err := parseNetwork(s)
		if err != nil {
			p.errorf(indexKey(key, i), "%q is not an address or a "+
				"network such as 192.0.2.0/24 or 2001:db8::/32", s)
			continue
		}
		nets = append(nets, n)
	}
	return nets
}

// parseNetwork reads a CIDR network or a single address, which stands
// for itself alone. Host bits set in a network are an error: they are
// almost always a typing mistake.
func parseNetwork(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, errBadNetwork
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	n, err := netip.ParsePrefix(s)
	if err != nil || n != n.Masked() {
		return netip.Prefix{}, errBadNetwork
	}
	if n.Addr().Is4In6() {
		return netip.Prefix{}, errBadNetwork
	}
	return n, nil
}
