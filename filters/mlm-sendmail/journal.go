package main

// The delivery journal: for each post (the root of a record id, before
// its first ","), a file state/journal/POST in the list directory with a
// line per recipient whose outcome is final — "D ADDRESS" delivered (the
// server said 2xx after the data), "F ADDRESS" failed for good (5xx, or
// expired). A batch tried again after any crash skips every recipient
// the journal names, so no recipient that got a 250 gets the post twice,
// however its batch or retry record is repeated. Lines are appended and
// fsynced once per transaction, after the bounce record of a failure is
// on disk and before the transaction's recipients are reported done.

import (
	"bufio"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"mlm/lib/addr"
	"mlm/lib/sysexit"
)

type journal struct {
	dir  string
	mu   sync.Mutex
	seed [2]maphash.Seed
	done map[string]map[[2]uint64]bool // post -> keys with a final outcome
	file map[string]*os.File
}

func newJournal(dir string) *journal {
	return &journal{dir: dir, seed: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		done: map[string]map[[2]uint64]bool{}, file: map[string]*os.File{}}
}

// postOf is the post a record belongs to.
func postOf(id string) string { p, _, _ := strings.Cut(id, ","); return p }

// key is a 128-bit hash of an address's key: a collision is not a
// practical worry (about 1 in 10^26 for a million recipients).
func (j *journal) key(mailbox string) [2]uint64 {
	k := addr.Key(mailbox)
	return [2]uint64{maphash.String(j.seed[0], k), maphash.String(j.seed[1], k)}
}

// load reads a post's journal once per process.
func (j *journal) load(post string) (map[[2]uint64]bool, error) {
	if m, ok := j.done[post]; ok {
		return m, nil
	}
	m := map[[2]uint64]bool{}
	f, err := os.Open(filepath.Join(j.dir, post))
	if err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if _, a, ok := strings.Cut(sc.Text(), " "); ok {
				m[j.key(a)] = true
			}
		}
		err = sc.Err()
		f.Close()
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, sysexit.Temp(fmt.Errorf("journal: %w", err))
	}
	j.done[post] = m
	return m, nil
}

// final reports whether a recipient of a post has a final outcome.
func (j *journal) final(post, mailbox string) (bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	m, err := j.load(post)
	if err != nil {
		return false, err
	}
	return m[j.key(mailbox)], nil
}

// record appends outcomes ("D addr" or "F addr" lines) and fsyncs.
func (j *journal) record(post string, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.load(post); err != nil {
		return err
	}
	f := j.file[post]
	if f == nil {
		if err := os.MkdirAll(j.dir, 0o700); err != nil {
			return sysexit.Temp(err)
		}
		var err error
		f, err = os.OpenFile(filepath.Join(j.dir, post), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return sysexit.Temp(err)
		}
		j.file[post] = f
	}
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		return sysexit.Temp(fmt.Errorf("journal: %w", err))
	}
	if err := f.Sync(); err != nil {
		return sysexit.Temp(fmt.Errorf("journal: %w", err))
	}
	// Memory keeps only what was final before this process started: a
	// recipient is in one batch of a post, so what this run settles is
	// not asked about again, and a million-recipient post does not make
	// the set grow by a million.
	return nil
}

func (j *journal) close() {
	for _, f := range j.file {
		f.Close()
	}
}
