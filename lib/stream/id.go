package stream

import (
	"crypto/rand"
	"encoding/hex"
	"os"
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
