package spool

import (
	"bytes"
	"io"
	"testing"
)

func TestSpool(t *testing.T) {
	s := New(10)
	defer s.Close()
	for _, want := range [][]byte{[]byte("short"), bytes.Repeat([]byte("0123456789"), 1000), nil, []byte("x")} {
		for i := 0; i < len(want); i += 7 {
			s.Write(want[i:min(i+7, len(want))])
		}
		got, err := io.ReadAll(s.Reader())
		if err != nil || !bytes.Equal(got, want) || s.Len() != int64(len(want)) {
			t.Fatalf("spool of %d octets gave %d: %v", len(want), len(got), err)
		}
		if err := s.Reset(); err != nil {
			t.Fatal(err)
		}
	}
	if s.f == nil {
		t.Errorf("spool over its limit did not move to a file")
	}
}
