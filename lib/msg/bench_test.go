package msg

import (
	"io"
	"strings"
	"testing"
)

// benchHeader is the header of a plain post.
const benchHeader = "From: Poster <poster@example.org>\nTo: dev@lists.example.org\n" +
	"Subject: bench\nDate: Sun, 29 Nov 2026 12:00:00 +0000\nMessage-ID: <bench.1@example.org>\n" +
	"MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n"

// BenchmarkEdit reads, checks and edits a post's header as mlm-hdr does
// for a list, one step per sub-benchmark, reusing memory across posts.
func BenchmarkEdit(b *testing.B) {
	var fs Fields
	for _, n := range []string{"List-Id", "List-Help", "List-Post", "List-Subscribe", "List-Unsubscribe", "List-Owner", "Precedence", "X-Loop"} {
		fs.Add(n, "<mailto:dev-request@lists.example.org?subject=help>")
	}
	raw := []byte(benchHeader)
	var e Edit
	b.Run("CheckBlock", func(b *testing.B) {
		for b.Loop() {
			CheckBlock(raw, MaxHeader)
		}
	})
	b.Run("CheckOctets", func(b *testing.B) {
		for b.Loop() {
			CheckOctets(raw)
		}
	})
	b.Run("Reset", func(b *testing.B) {
		for b.Loop() {
			e.Reset(raw)
		}
	})
	b.Run("edits", func(b *testing.B) {
		for b.Loop() {
			e.Reset(raw)
			e.Del("Return-Path")
			e.DelFunc(func(n string) bool { return strings.HasPrefix(n, "List-") || n == "Precedence" })
			e.DelValue("X-Loop", func(string) bool { return true })
			e.AddFields(&fs)
		}
	})
	b.Run("Prefix", func(b *testing.B) {
		for b.Loop() {
			e.Reset(raw)
			e.Prefix("Subject", "[dev]")
		}
	})
	b.Run("Repeated", func(b *testing.B) {
		e.Reset(raw)
		for b.Loop() {
			e.Repeated()
		}
	})
	b.Run("WriteTo", func(b *testing.B) {
		for b.Loop() {
			e.WriteTo(io.Discard)
		}
	})
}
