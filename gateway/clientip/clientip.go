// Package clientip finds the address of the client behind a request: the
// direct peer, unless the peer is one of the configured trusted proxies;
// then X-Linkrunner-Visitor-IP when it holds a public address (web
// collector proxies send it, sdk-contract §3), else the first public
// address of X-Forwarded-For (private, loopback and link-local hops are
// skipped), falling back to the peer. Only trusted
// proxies are believed, so a client cannot choose its own address by
// sending the header directly. Safe for concurrent use.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// HeaderVisitorIP is the header a web collector proxy names the visitor's
// address in.
const HeaderVisitorIP = "X-Linkrunner-Visitor-IP"

// Resolver resolves client addresses.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a resolver trusting the given CIDRs (or single addresses).
func New(trusted []string) (*Resolver, error) {
	r := &Resolver{}
	for _, s := range trusted {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("trusted proxy %q is not an address or CIDR", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

// IP returns the client address of req as a string.
func (r *Resolver) IP(req *http.Request) string {
	peer := peerAddr(req.RemoteAddr)
	if !peer.IsValid() {
		return req.RemoteAddr
	}
	if !r.isTrusted(peer) {
		return peer.String()
	}
	if a, err := netip.ParseAddr(strings.TrimSpace(req.Header.Get(HeaderVisitorIP))); err == nil && public(a.Unmap()) {
		return a.Unmap().String()
	}
	for _, h := range req.Header.Values("X-Forwarded-For") {
		for _, part := range strings.Split(h, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			a = a.Unmap()
			if public(a) {
				return a.String()
			}
		}
	}
	return peer.String()
}

func (r *Resolver) isTrusted(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// public reports whether a is routable on the internet.
func public(a netip.Addr) bool {
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() &&
		!sharedAddressSpace.Contains(a)
}

// sharedAddressSpace is carrier-grade NAT (RFC 6598), not public either.
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")
