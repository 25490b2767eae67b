// Package dmarc looks up the DMARC policy (RFC 7489) that an author's
// mail domain publishes: whether receivers are asked to refuse, or to
// junk, mail under its From that neither its DKIM nor its SPF speaks
// for. A list that edits a post (a subject prefix, a footer) breaks the
// author's DKIM signature, and sends from its own envelope sender, so
// that its members' copies of a post from such a domain are refused;
// mlm-hdr(1) then puts the list's address in From.
package dmarc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"

	"mlm/lib/addr"
	"mlm/lib/ascii"
)

// Policies, as a record's p= or sp= names them.
const (
	None       = "none"
	Quarantine = "quarantine"
	Reject     = "reject"
)

// ServerEnv names the environment variable that gives the DNS server
// to ask, host:port, in place of those of /etc/resolv.conf: a site's own
// resolver, or a test's.
const ServerEnv = "MLM_DNS"

// Timeout bounds one domain's lookups, both queries of it.
const Timeout = 10 * time.Second

// maxCache is the most domains a Checker keeps the policy of; past it,
// it forgets them all and begins again.
const maxCache = 10000

// Checker looks up domains' policies, each once: a run's posts come from
// few domains, and a lookup that failed would fail again, each after
// as long a wait.
type Checker struct {
	r     *net.Resolver
	cache map[string]answer
}

type answer struct {
	policy string
	err    error
}

// NewChecker returns a Checker that asks the system's resolver, or the
// server ServerEnv names.
func NewChecker() *Checker {
	r := net.DefaultResolver
	if s := os.Getenv(ServerEnv); s != "" {
		r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s)
		}}
	}
	return &Checker{r: r, cache: map[string]answer{}}
}

// Strict reports whether the policy asks receivers to refuse or junk
// mail that fails DMARC: reject or quarantine.
func Strict(policy string) bool { return policy == Reject || policy == Quarantine }

// Policy returns the policy that applies to mail whose From is in the
// domain d (RFC 7489 section 6.6.3): that of d's own record, at
// _dmarc.d, else its organizational domain's, its sp= if it has one.
// It is "" where neither publishes a record (or publishes two, which a
// receiver ignores), and for a domain literal. An error is a lookup
// that failed for now (a timeout, SERVFAIL): the policy is not known,
// nor looked up again.
func (c *Checker) Policy(ctx context.Context, d string) (string, error) {
	d = strings.TrimSuffix(d, ".")
	if a, ok := addr.ALabels(d); ok {
		d = a
	}
	d = ascii.Lower(d)
	if d == "" || strings.HasPrefix(d, "[") || !ascii.Is(d) {
		return "", nil
	}
	if a, ok := c.cache[d]; ok {
		return a.policy, a.err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	p, err := c.policy(ctx, d)
	if len(c.cache) >= maxCache {
		clear(c.cache)
	}
	c.cache[d] = answer{p, err}
	return p, err
}

func (c *Checker) policy(ctx context.Context, d string) (string, error) {
	r, found, err := c.record(ctx, d)
	if err != nil || found {
		return r.Policy, err
	}
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil || org == d {
		return "", nil // d is a public suffix, or is its own organizational domain
	}
	r, found, err = c.record(ctx, org)
	if err != nil || !found {
		return "", err
	}
	if r.Sub != "" {
		return r.Sub, nil
	}
	return r.Policy, nil
}

// record looks up the DMARC record of the domain d, and reports
// whether d has one, or more: two or more end the search with no policy
// (section 6.6.3, step 5), a Record of none, where none at all sends it
// on to the organizational domain.
func (c *Checker) record(ctx context.Context, d string) (Record, bool, error) {
	// Rooted: the name as it is, not with resolv.conf's search domains.
	txts, err := c.r.LookupTXT(ctx, "_dmarc."+d+".")
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return Record{}, false, nil
	}
	if errors.As(err, &dnsErr) {
		// Its text names resolv.conf's server, which ServerEnv may
		// have replaced.
		return Record{}, false, fmt.Errorf("_dmarc.%s: %s", d, dnsErr.Err)
	}
	if err != nil {
		return Record{}, false, err
	}
	var rs []Record
	for _, t := range txts {
		if r, ok := Parse(t); ok {
			rs = append(rs, r)
		}
	}
	switch len(rs) {
	case 0:
		return Record{}, false, nil
	case 1:
		return rs[0], true, nil
	}
	return Record{}, true, nil
}

// Record is what a DMARC record says of policy.
type Record struct {
	Policy string // p=
	Sub    string // sp=, for the organizational domain's subdomains; "" if not given
}

// Parse reads a TXT record as a DMARC record (RFC 7489 section 6.4):
// "v=DMARC1" first, then tag=value pairs separated by semicolons. It
// reports whether t is one. A record whose p= is missing or not a
// policy, or whose sp= is not one, is taken as p=none, all of it: as
// section 6.6.3 asks of such a record with a rua= (without one it asks
// for no DMARC at all, which is as much).
func Parse(t string) (Record, bool) {
	tags := strings.Split(t, ";")
	v, ok := tag(tags[0])
	if !ok || !ascii.EqualFold(v.name, "v") || v.value != "DMARC1" {
		return Record{}, false
	}
	var r Record
	valid := true
	for _, s := range tags[1:] {
		tv, ok := tag(s)
		name := ascii.Lower(tv.name)
		if !ok || name != "p" && name != "sp" {
			continue
		}
		pol := ascii.Lower(tv.value)
		switch {
		case pol != None && pol != Quarantine && pol != Reject:
			valid = false
		case name == "p":
			r.Policy = pol
		default:
			r.Sub = pol
		}
	}
	if !valid || r.Policy == "" {
		return Record{Policy: None}, true
	}
	return r, true
}

type tagValue struct{ name, value string }

// tag splits one tag-spec, "name = value", white space around each
// trimmed.
func tag(s string) (tagValue, bool) {
	n, v, ok := strings.Cut(s, "=")
	if !ok {
		return tagValue{}, false
	}
	return tagValue{strings.Trim(n, " \t"), strings.Trim(v, " \t")}, true
}
