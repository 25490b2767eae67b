package stream

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

var idSeq atomic.Int64

// NewID returns a fresh record id in the maildir style,
// <seconds>.M<microseconds>P<pid>Q<n>R<random>.<host>: unique across
// processes and hosts, and never containing the "," of derived ids.
func NewID() string {
	now := time.Now()
	var rnd [4]byte
	rand.Read(rnd[:])
	id := strconv.FormatInt(now.Unix(), 10) +
		".M" + strconv.Itoa(now.Nanosecond()/1000) +
		"P" + strconv.Itoa(os.Getpid()) +
		"Q" + strconv.FormatInt(idSeq.Add(1), 10) +
		"R" + hex.EncodeToString(rnd[:])
	if h := hostPart(); h != "" {
		id += "." + h
	}
	return id
}

// hostPart is the host name reduced to record-id octets.
func hostPart() string {
	h, _ := os.Hostname()
	b := make([]byte, 0, len(h))
	for i := 0; i < len(h) && len(b) < 64; i++ {
		if c := h[i]; isIDChar(c) && c != ',' {
			b = append(b, c)
		}
	}
	return string(b)
}

// DerivedID is the id of the n-th record derived from record id: "id,n"
// (mlm-stream(5)). An id that cannot take it, being too long, is a data
// error.
func DerivedID(id string, n int) (string, error) {
	d := id + "," + strconv.Itoa(n)
	if err := CheckID(d); err != nil {
		return "", dataErr(fmt.Errorf("record %s: cannot derive ids from it: %v", id, err))
	}
	return d, nil
}

// DerivedAttrs appends to dst the attributes of a record derived from
// h: h's in order, but "parent" and any named in drop, then
// "parent=ID", h's id.
func DerivedAttrs(dst []Attr, h *Header, drop ...string) []Attr {
	for _, a := range h.Attrs {
		if a.Name != "parent" && !slices.Contains(drop, a.Name) {
			dst = append(dst, a)
		}
	}
	return append(dst, Attr{Name: "parent", Value: h.ID})
}

// VERP reports whether h asks the delivery stage to send each recipient
// alone, the sender VERP-encoded with it: the attribute verp=yes, which
// mlm-split(1)'s --verp writes.
func (h *Header) VERP() bool {
	v, _ := h.Get("verp")
	return v == "yes"
}
