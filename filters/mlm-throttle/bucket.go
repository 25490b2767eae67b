package main

// Token buckets.
//
// A bucket of rate r tokens a second and size S is kept as one number,
// its TAT (the theoretical arrival time of GCRA, ITU-T I.371): the time
// at which it will be full again. At time t it holds S - (TAT - t)·r
// tokens if TAT is later, S otherwise; TAT at or before now is a full
// bucket, so a bucket need not be stored at all once it has filled up.
//
// Taking n tokens waits until the bucket holds min(n, S) of them, then
// takes n: a record larger than the bucket waits for a full bucket and
// leaves it in debt, which later records wait out. So over any stretch of
// time L, at most max(S, N) + r·L tokens pass, N the largest take: S + r·L
// where no record is larger than the bucket.
//
// A record takes from several buckets at once (recipients, records, its
// domain). It passes at P, the latest of the times each bucket allows,
// and each bucket is charged as of P; the new TATs are written back at
// once, before the throttle sleeps until P, so that a throttle that
// reads the state next queues behind it. Times are nanoseconds from the
// run's epoch (throttle.epoch, its start), so that the arithmetic holds
// some 146 years either side of the present, whatever the year; sums and
// products saturate rather than overflow.

import (
	"math"
	"time"
)

// far is the largest time the arithmetic produces, some 146 years after
// the epoch: later than any real wait, with room to add to it. (From
// 1970 it is February 2116: the buckets' times counted from then, a clock
// past it had every time saturate there, before now, and nothing was
// limited.)
const far = math.MaxInt64 / 2

// A bucket is one rate limit.
type bucket struct {
	key  string // in the state
	tau  int64  // nanoseconds a token
	size int64  // tokens
}

// newBucket returns a bucket of rate tokens a second (> 0), holding size
// tokens, or one second's worth (at least 1) if size is 0.
func newBucket(key string, rate float64, size int64) bucket {
	f := math.Round(float64(time.Second) / rate)
	tau := int64(far)
	if f < far {
		tau = max(1, int64(f))
	}
	if size == 0 {
		size = max(1, int64(math.Ceil(rate)))
	}
	return bucket{key: key, tau: tau, size: size}
}

// when returns the earliest time, not before now, at which n tokens may
// be taken from the bucket whose TAT is tat.
func (b bucket) when(tat, now, n int64) int64 {
	k := min(n, b.size)
	return max(now, tat-mul(b.size-k, b.tau))
}

// take returns the TAT after n tokens are taken at time p, which when
// allowed.
func (b bucket) take(tat, p, n int64) int64 {
	return add(max(tat, p), mul(n, b.tau))
}

// add and mul saturate at far.
func add(a, b int64) int64 {
	if b > far-a {
		return far
	}
	return a + b
}

func mul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > far/b {
		return far
	}
	return a * b
}
