package smtpout_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"mlm/lib/mlmtest"
	"mlm/lib/smtpout"
	"mlm/lib/smtpsink"
	"mlm/lib/stream"
)

// outcome is what a held transaction's done was given, and how often.
type outcome struct {
	res   []smtpout.Result
	err   error
	calls int
}

func (o *outcome) done(res []smtpout.Result, err error) {
	o.res, o.err = res, err
	o.calls++
}

// lost asserts that the held transaction's done was called once, with
// no result and its reply lost.
func (o *outcome) lost(t *testing.T) {
	t.Helper()
	if o.calls != 1 || len(o.res) != 0 || !errors.Is(o.err, smtpout.ErrLostReply) {
		t.Errorf("held transaction: done called %d times with %s, %v; want once, no result, its reply lost", o.calls, codes(o.res), o.err)
	}
}

// outOfStep holds a first transaction, then sends one to the recipients
// to behind it, to a server that reads its MAIL, RCPTs and DATA, says
// replies, and then answers as rest does; it asserts what a server out
// of step must give: that transaction's error temporary ErrUnexpected,
// and the held one's reply lost.
func outOfStep(t *testing.T, to []string, replies ...string) ([]smtpout.Result, []stream.Path) {
	t.Helper()
	noLeaks(t)
	c, first, _ := holdOn(t, func(c *fconn) {
		if !c.takeFirst() || !c.lines(len(to)+2) {
			return
		}
		c.say(replies...)
		c.rest()
	})
	var res []smtpout.Result
	var rest []stream.Path
	var err error
	within(t, func() { res, rest, err = c.Send(sender, rcpts(to...), message, false) })
	temporary(t, err, smtpout.ErrUnexpected)
	first.lost(t)
	return res, rest
}

// dialLMTP connects to an LMTP server at addr, the connection closed as
// the test ends.
func dialLMTP(t *testing.T, addr string) *smtpout.Client {
	t.Helper()
	o := opts
	o.LMTP = true
	c, err := dial(t, addr, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// holdOn plays script as the server, and holds a first transaction, to
// a@example.org, on a connection to it, closed as the test ends: no
// result, no error, and done not called yet.
func holdOn(t *testing.T, script func(*fconn)) (*smtpout.Client, *outcome, *fake) {
	t.Helper()
	f := serve(t, script)
	c, err := dial(t, f.Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	first := &outcome{}
	if res, _, err := hold(t, c, first, true, "a@example.org"); err != nil || len(res) != 0 || first.calls != 0 {
		t.Fatalf("first Hold: %s, %v, done called %d times; want nothing yet", codes(res), err, first.calls)
	}
	return c, first, f
}

// overChainMax is one recipient more than ChainMax.
func overChainMax() []string {
	var many []string
	for i := range smtpout.ChainMax + 1 {
		many = append(many, fmt.Sprintf("m%d@example.org", i))
	}
	return many
}

// takeFirst plays a server offering PIPELINING, and ext, through a
// first transaction, up to its final dot, which it does not answer.
func (c *fconn) takeFirst(ext ...string) bool {
	if !c.hello(append([]string{"PIPELINING"}, ext...)...) || !c.lines(3) {
		return false
	}
	c.say("250 ok", "250 ok", "354 go")
	return c.data()
}

// hold runs Hold and fails the test unless it held as want says.
func hold(t *testing.T, c *smtpout.Client, o *outcome, want bool, to ...string) ([]smtpout.Result, []stream.Path, error) {
	t.Helper()
	var res []smtpout.Result
	var rest []stream.Path
	var held bool
	var err error
	within(t, func() { res, rest, held, err = c.Hold(sender, rcpts(to...), message, false, o.done) })
	if held != want {
		t.Errorf("Hold to %v: held %v, want %v (results %s, error %v)", to, held, want, codes(res), err)
	}
	return res, rest, err
}

// TestHoldChains: a held dot goes out with the next transaction's
// commands, not before: the server here answers the dot only once it
// has read the next MAIL, RCPT and DATA, so a client that waited for
// the reply first would hang. Each transaction's results reach its done
// as the next call reads them, and Release ends the last.
func TestHoldChains(t *testing.T) {
	noLeaks(t)
	c, first, _ := holdOn(t, func(c *fconn) {
		if !c.takeFirst() || !c.lines(3) {
			return
		}
		c.say("250 2.0.0 first", "250 ok", "250 ok", "354 go")
		if !c.data() {
			return
		}
		c.say("250 2.0.0 second")
		c.rest()
	})
	var second outcome
	if res, _, err := hold(t, c, &second, true, "b@example.org"); err != nil || len(res) != 0 {
		t.Fatalf("second Hold: %s, %v", codes(res), err)
	}
	if first.calls != 1 || first.err != nil || codes(first.res) != "a@example.org=250" || first.res[0].Reply.Text != "first" {
		t.Errorf("first transaction, once the second is held: done called %d times with %s %v; want once, a delivered", first.calls, codes(first.res), first.err)
	}
	if second.calls != 0 {
		t.Errorf("second transaction's done called before Release")
	}
	var rerr error
	within(t, func() { rerr = c.Release() })
	if rerr != nil || second.calls != 1 || second.err != nil || codes(second.res) != "b@example.org=250" || second.res[0].Reply.Text != "second" {
		t.Errorf("Release = %v; second done called %d times with %s %v; want once, b delivered", rerr, second.calls, codes(second.res), second.err)
	}
	within(t, func() { rerr = c.Release() })
	if rerr != nil || first.calls != 1 || second.calls != 1 {
		t.Errorf("Release with nothing held = %v; done calls %d, %d; want nil and no call", rerr, first.calls, second.calls)
	}
	// Send after it is unchanged.
	var res []smtpout.Result
	var err error
	within(t, func() { res, _, err = c.Send(sender, rcpts("c@example.org"), message, false) })
	if err != nil || codes(res) != "c@example.org=250" {
		t.Errorf("Send after Release: %s, %v", codes(res), err)
	}
}

// TestHoldWhenNot: no hold without PIPELINING, for more than ChainMax
// recipients, nor when recipients are left for another transaction:
// Hold is Send, and done is never called.
func TestHoldWhenNot(t *testing.T) {
	noLeaks(t)
	f := serve(t, func(c *fconn) {
		if c.hello("8BITMIME") {
			c.rest()
		}
	})
	c, err := dial(t, f.Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var o outcome
	res, _, err := hold(t, c, &o, false, "a@example.org")
	if err != nil || codes(res) != "a@example.org=250" {
		t.Errorf("without PIPELINING: %s, %v; want a delivered, at once", codes(res), err)
	}
	c.Close()

	c, err = dial(t, sink(t, smtpsink.Options{}).Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	many := overChainMax()
	res, _, err = hold(t, c, &o, false, many...)
	if err != nil || len(res) != len(many) {
		t.Errorf("%d recipients, more than ChainMax: %s, %v; want each delivered, at once", len(many), codes(res), err)
	}
	c.Close()

	c, err = dial(t, sink(t, smtpsink.Options{MaxRcpt: 1}).Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	res, rest, err := hold(t, c, &o, false, "a@example.org", "b@example.org")
	if err != nil || codes(res) != "a@example.org=250" || len(rest) != 1 || rest[0].Mailbox != "b@example.org" {
		t.Errorf("one recipient left for another transaction: %s, rest %v, %v; want a delivered, b left", codes(res), rest, err)
	}
	c.Close()
	if o.calls != 0 {
		t.Errorf("done called %d times", o.calls)
	}
}

// TestHoldClose: Close does not send a held dot: the server takes
// nothing, and done has ErrNotSent, no result.
func TestHoldClose(t *testing.T) {
	mlmtest.Fault(t, "smtp", "Close with a final dot held", "the dot not sent, the server takes nothing; done: ErrNotSent, no result")
	noLeaks(t)
	s := sink(t, smtpsink.Options{})
	c, err := dial(t, s.Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	var o outcome
	hold(t, c, &o, true, "a@example.org")
	within(t, func() { c.Close() })
	if o.calls != 1 || len(o.res) != 0 || !errors.Is(o.err, smtpout.ErrNotSent) || errors.Is(o.err, smtpout.ErrLostReply) {
		t.Errorf("Close with a held dot: done called %d times with %s, %v; want once, no result, ErrNotSent", o.calls, codes(o.res), o.err)
	}
	temporary(t, o.err, smtpout.ErrNotSent)
	if got := s.Counts().Transactions; got != 0 {
		t.Errorf("the server took %d transactions", got)
	}
}

// TestHoldLost: the connection drops instead of the reply to a held
// dot, sent with the next transaction's commands: that one's done has
// ErrLostReply (the server has the message), the next one an error and
// no result, nothing of it taken; the client is then unusable.
func TestHoldLost(t *testing.T) {
	mlmtest.Fault(t, "smtp", "connection dropped instead of the reply to a held dot", "held transaction: ErrLostReply, no result (deferred; duplicate window); the one behind it: temporary error, not a lost reply, nothing taken")
	noLeaks(t)
	s := sink(t, smtpsink.Options{DropAfterDot: 1})
	c, err := dial(t, s.Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var first, second outcome
	hold(t, c, &first, true, "a@example.org")
	res, _, err := hold(t, c, &second, false, "b@example.org")
	temporary(t, err)
	if errors.Is(err, smtpout.ErrLostReply) {
		t.Errorf("second transaction: %v; want an error, not a lost reply: its data never went", err)
	}
	noneDelivered(t, res)
	if first.calls != 1 || len(first.res) != 0 {
		t.Errorf("first done called %d times with %s; want once, no result", first.calls, codes(first.res))
	}
	temporary(t, first.err, smtpout.ErrLostReply)
	if second.calls != 0 {
		t.Errorf("second done called for a transaction never held")
	}
	if got := s.Counts(); got.Transactions != 1 || got.Dropped != 1 {
		t.Errorf("server: %v; want the first transaction taken, the connection dropped", got)
	}
	if err := c.Release(); err != nil {
		t.Errorf("Release on the broken connection, nothing held: %v", err)
	}
	if _, _, err := c.Send(sender, rcpts("c@example.org"), message, false); err == nil {
		t.Error("Send on the broken connection: no error")
	}
}

// TestHoldFailBeforeSending: a held dot behind which the next
// transaction finds the server out of step before writing a thing (a
// reply nobody asked for): the dot never went out, and its done says
// ErrNotSent.
func TestHoldFailBeforeSending(t *testing.T) {
	mlmtest.Fault(t, "smtp", "an unasked reply with the 354, a final dot held after it", "the next transaction sends nothing (temporary ErrUnexpected); the held dot never sent: ErrNotSent")
	noLeaks(t)
	// The unasked reply arrives with the 354, in the buffer before
	// the message goes.
	c, first, f := holdOn(t, func(c *fconn) {
		if c.hello("PIPELINING") && c.lines(3) {
			c.say("250 ok", "250 ok", "354 go", "250 unasked")
			c.drain()
		}
	})
	var second outcome
	_, _, err := hold(t, c, &second, false, "b@example.org")
	temporary(t, err, smtpout.ErrUnexpected)
	if first.calls != 1 || !errors.Is(first.err, smtpout.ErrNotSent) {
		t.Errorf("first done called %d times with %v; want once, ErrNotSent", first.calls, first.err)
	}
	if f.saw(".") || f.saw("RCPT TO:<b@") {
		t.Errorf("the server read %q; want no dot and no second transaction", f.received())
	}
}

// TestHoldLMTP: an LMTP transaction held gives done a reply per
// recipient, read as the next call reads them.
func TestHoldLMTP(t *testing.T) {
	noLeaks(t)
	var rules []smtpsink.Rule
	for _, r := range []string{"q*=452 4.2.2 over quota"} {
		rule, err := smtpsink.ParseRule(r)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, rule)
	}
	s := sink(t, smtpsink.Options{LMTP: true, LMTPReply: rules})
	c := dialLMTP(t, s.Addr())
	var first outcome
	var err error
	hold(t, c, &first, true, "a@example.org", "q@example.org", "b@example.org")
	within(t, func() { err = c.Release() })
	if err != nil || first.calls != 1 || first.err != nil || codes(first.res) != "a@example.org=250 q@example.org=452 b@example.org=250" {
		t.Errorf("Release = %v; done called %d times with %s, %v; want a reply each", err, first.calls, codes(first.res), first.err)
	}
}

// TestHoldThenNothingSent: a transaction that sends no command (the
// message is over the server's SIZE) does not leave the dot held before
// it waiting for whatever comes next: it goes out, and its done is
// called, before that Send returns.
func TestHoldThenNothingSent(t *testing.T) {
	noLeaks(t)
	c, first, _ := holdOn(t, func(c *fconn) {
		if c.hello("PIPELINING", "SIZE 200") {
			c.rest()
		}
	})
	var res []smtpout.Result
	var err error
	within(t, func() {
		res, _, err = c.Send(sender, rcpts("b@example.org"), text("Subject: big\n\n"+strings.Repeat("x", 300)+"\n"), false)
	})
	if err != nil || codes(res) != "b@example.org=552" {
		t.Errorf("Send over SIZE: %s, %v; want b refused 552 by the client", codes(res), err)
	}
	if first.calls != 1 || first.err != nil || codes(first.res) != "a@example.org=250" {
		t.Errorf("the held transaction, once one after it sent nothing: done called %d times with %s, %v; want once, a delivered", first.calls, codes(first.res), first.err)
	}
}

// TestHoldSurplusShifts: a reply nobody asked for after the reply to a
// held dot is read as the next MAIL's, and shifts every reply after it
// to the command after: here a recipient's refusal comes as the reply
// to DATA, and the 354 as the reply to RSET. None of that transaction's
// replies stands then: no recipient gets the refusal (no bounce), each
// is left without a result, to be tried again. Nor does the held dot's:
// the surplus could as well have come before it, and the dot's own
// reply be the one read as MAIL's. Its reply is lost, the one duplicate
// window, rather than a recipient taken as delivered on another
// command's 250.
func TestHoldSurplusShifts(t *testing.T) {
	mlmtest.Fault(t, "smtp", "a surplus reply after the reply to a held dot", "the next: temporary ErrUnexpected at RSET, no result from its shifted replies (no bounce); the held one: ErrLostReply")
	res, rest := outOfStep(t, []string{"b@example.org"}, "250 2.0.0 first", "250 unasked", "250 ok", "550 5.1.1 no such user", "354 go")
	if len(res) != 0 || len(rest) != 0 {
		t.Errorf("out of step: results %s, rest %v; want none", codes(res), rest)
	}
}

// TestHoldReplyMissing: the server leaves out the reply to a held dot
// and answers the commands behind it. MAIL's 250, read first, is not
// taken for the dot's: the replies after it come one command late (354
// to RCPT), and the held transaction's reply is lost, as it would be
// without holding, when the client waits for the dot's reply alone.
// (From a review.)
func TestHoldReplyMissing(t *testing.T) {
	mlmtest.Fault(t, "smtp", "no reply to a held dot; the commands behind it answered", "held transaction: ErrLostReply, not delivered on MAIL's 250; the next: temporary ErrUnexpected")
	outOfStep(t, []string{"b@example.org"}, "250 2.1.0 sender ok", "250 2.1.5 b ok", "354 go") // nothing for the dot
}

// TestHoldLMTPShort: LMTP, a held transaction of two recipients, and one
// reply after the dot, not one each: the second recipient does not take
// the next MAIL's 250 for its own. (From a review.)
func TestHoldLMTPShort(t *testing.T) {
	noLeaks(t)
	f := serve(t, func(c *fconn) {
		if !c.hello("PIPELINING") || !c.lines(4) {
			return
		}
		c.say("250 ok", "250 ok", "250 ok", "354 go")
		if !c.data() || !c.lines(3) {
			return
		}
		c.say("250 2.0.0 a1 ok", "250 2.1.0 sender ok", "250 2.1.5 b ok", "354 go")
		c.drain()
	})
	c := dialLMTP(t, f.Addr())
	var first outcome
	var err error
	hold(t, c, &first, true, "a1@example.org", "a2@example.org")
	within(t, func() { _, _, err = c.Send(sender, rcpts("b@example.org"), message, false) })
	temporary(t, err, smtpout.ErrUnexpected)
	first.lost(t)
}

// TestHoldSurplusIntoRSET: as TestHoldSurplusShifts, but the server
// refuses both recipients behind the dot (b 450, c 550), so the reply
// read for RSET is its real reply to DATA, 554: a refusal, but not a
// reply RSET can have. No recipient is failed for another's reply (b
// for c's 550). (From a review.)
func TestHoldSurplusIntoRSET(t *testing.T) {
	mlmtest.Fault(t, "smtp", "a surplus reply after a held dot's, every recipient behind it refused", "temporary ErrUnexpected at RSET's 554; no result from the shifted replies (no bounce)")
	res, _ := outOfStep(t, []string{"b@example.org", "c@example.org"}, "250 2.0.0 first", "250 unasked", "250 ok",
		"450 4.2.0 b greylisted", "550 5.1.1 c no such user", "554 5.5.1 no valid recipients")
	if len(res) != 0 {
		t.Errorf("out of step: results %s; want none", codes(res))
	}
}

// TestHoldThenNothingSentLost: the dot released by a transaction that
// sends nothing loses its reply: that transaction's error is not a lost
// reply (its recipients had their results, from the client), nor is the
// one the connection keeps for the calls after it.
func TestHoldThenNothingSentLost(t *testing.T) {
	noLeaks(t)
	c, first, _ := holdOn(t, func(c *fconn) {
		c.takeFirst("SIZE 200")
	})
	var res []smtpout.Result
	var err error
	big := text("Subject: big\n\n" + strings.Repeat("x", 300) + "\n")
	within(t, func() { res, _, err = c.Send(sender, rcpts("b@example.org"), big, false) })
	temporary(t, err, smtpout.ErrBefore)
	if errors.Is(err, smtpout.ErrLostReply) || codes(res) != "b@example.org=552" {
		t.Errorf("Send over SIZE, the held reply lost: %s, %v; want b refused 552, not a lost reply", codes(res), err)
	}
	first.lost(t)
	within(t, func() { _, _, err = c.Send(sender, rcpts("c@example.org"), message, false) })
	if err == nil || errors.Is(err, smtpout.ErrLostReply) {
		t.Errorf("Send after: %v; want the connection's error, not a lost reply", err)
	}
}

// TestHoldBeforeLarge: a held dot does not go out with the commands of
// a transaction of more than ChainMax recipients, whose replies the
// server would give only after all of them: it goes alone, and its
// reply is read, first.
func TestHoldBeforeLarge(t *testing.T) {
	noLeaks(t)
	chained := make(chan bool, 1)
	c, first, _ := holdOn(t, func(c *fconn) {
		if !c.takeFirst() {
			return
		}
		chained <- c.br.Buffered() > 0 // what came with the dot
		c.say("250 2.0.0 first")
		c.rest()
	})
	many := overChainMax()
	var res []smtpout.Result
	var err error
	within(t, func() { res, _, err = c.Send(sender, rcpts(many...), message, false) })
	if err != nil || len(res) != len(many) || first.calls != 1 || codes(first.res) != "a@example.org=250" {
		t.Errorf("Send of %d after a held dot: %d results, %v; held done called %d times with %s", len(many), len(res), err, first.calls, codes(first.res))
	}
	if <-chained {
		t.Error("the held dot went out with the commands of a transaction over ChainMax")
	}
}

// TestHoldReplyReordered: the reply to a held dot (451) and the next
// MAIL's (250) come in the wrong order. MAIL's 250, read first, is not
// taken for the dot's: a recipient accepted after a refused MAIL is out
// of step, and the held transaction's reply is lost. (From a review.)
func TestHoldReplyReordered(t *testing.T) {
	mlmtest.Fault(t, "smtp", "the replies to a held dot (451) and the next MAIL (250) swapped", "held transaction: ErrLostReply, not delivered on MAIL's 250; the next: temporary ErrUnexpected")
	outOfStep(t, []string{"b@example.org"}, "250 2.1.0 sender ok", "451 4.3.0 try later", "250 2.1.5 b ok", "354 go")
}

// TestHold421: a server that closes with 421 after the reply to a held
// dot, to the next MAIL (its limit of messages a connection) or to the
// RSET after a refused transaction, is in step: the held transaction is
// delivered, not a duplicate, and a refusal before the 421 stands.
// (From a review.)
func TestHold421(t *testing.T) {
	for _, tc := range []struct {
		name, after, want string
		script            []string
	}{
		{"to MAIL", "", "", []string{"250 2.0.0 first queued", "421 4.7.0 too many messages in this connection"}},
		{"to RSET", "421 4.3.2 shutting down", "b@example.org=550", []string{"250 2.0.0 first queued", "250 2.1.0 ok", "550 5.1.1 no such user", "554 5.5.1 no valid recipients"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			c, first, _ := holdOn(t, func(c *fconn) {
				if !c.takeFirst() || !c.lines(3) {
					return
				}
				c.say(tc.script...)
				if tc.after != "" && c.lines(1) {
					c.say(tc.after)
				}
			})
			var res []smtpout.Result
			var err error
			within(t, func() { res, _, err = c.Send(sender, rcpts("b@example.org"), message, false) })
			if err == nil || errors.Is(err, smtpout.ErrUnexpected) || codes(res) != tc.want {
				t.Errorf("Send: %s, %v; want %q and a temporary error, in step", codes(res), err, tc.want)
			}
			if first.calls != 1 || first.err != nil || codes(first.res) != "a@example.org=250" {
				t.Errorf("held transaction: done called %d times with %s, %v; want once, a delivered", first.calls, codes(first.res), first.err)
			}
		})
	}
}

// TestHoldMailRefusedData: a pipelining server that refuses MAIL (451)
// behind a held dot, and yet invites the data (354): the client ends the
// data at once with the dot alone, then RSET, so the server is not left
// reading the commands after as the message's lines, and the replies
// are in step: the held transaction is delivered on its 250, and the
// error is MAIL's refusal. A client that sent RSET into the data waited
// for a reply that never came, and the held transaction's reply counted
// as lost: a duplicate at the retry.
func TestHoldMailRefusedData(t *testing.T) {
	mlmtest.Fault(t, "smtp", "MAIL refused 451 behind a held dot, DATA answered 354", "the dot alone, then RSET; held transaction delivered; the error MAIL's 451")
	noLeaks(t)
	c, first, f := holdOn(t, func(c *fconn) {
		if !c.takeFirst() || !c.lines(3) {
			return
		}
		c.say("250 2.0.0 first queued", "451 4.3.0 sender deferred", "503 5.5.1 sender first", "354 go")
		if !c.data() {
			return
		}
		c.say("554 5.5.1 no valid recipients")
		c.rest()
	})
	var res []smtpout.Result
	var err error
	within(t, func() { res, _, err = c.Send(sender, rcpts("b@example.org"), message, false) })
	temporary(t, err)
	var re *smtpout.ReplyError
	if !errors.As(err, &re) || re.Cmd != "MAIL" || re.Code != 451 || len(res) != 0 {
		t.Errorf("Send: %s, %v; want no result and MAIL's 451", codes(res), err)
	}
	if first.calls != 1 || first.err != nil || codes(first.res) != "a@example.org=250" {
		t.Errorf("held transaction: done called %d times with %s, %v; want once, a delivered", first.calls, codes(first.res), first.err)
	}
	c.Close()
	// (Then QUIT: the conversation is in step, TestQuitAfterRefusal.)
	if got := strings.Join(f.received(), "|"); !strings.HasSuffix(got, "|RCPT TO:<b@example.org>|DATA|.|RSET|QUIT") {
		t.Errorf("server read %q; want b's DATA, the dot alone, RSET, QUIT", got)
	}
}

// TestHoldReplyThenLost: the reply to a held dot is read, and the
// connection is lost before the replies to the commands that went out
// with it are all read, with none out of step: the reply stands, the
// held transaction is delivered, not voided as a lost reply (a relay
// that closes after a message without a 421, or is reset: each
// recipient got the post twice, R92 F1). A 2.1.x reply, MAIL's and not
// a message's, is still lost: the server may have left out the dot's;
// so is one that is what the server said to the held transaction's MAIL
// ("250 ok" here): a server answers every MAIL alike, and its dot
// otherwise, as Exim's "250 OK id=..." and qmail's "250 ok 1733500000
// qp 4711" (a review: taken, a recipient never delivered would be;
// lost, every post through Exim so dropped went twice, another); and so
// is a refusal, which costs no duplicate, and may be the next MAIL's. A
// 421 after it is no lost connection for this (a review).
func TestHoldReplyThenLost(t *testing.T) {
	mlmtest.Fault(t, "smtp", "the connection lost after the reply to a held dot, with the replies after it in step", "held transaction: a 2xx stands (delivered, no duplicate) if not 2.1.x nor what MAIL got, a refusal or else is lost, also before a 421; the one behind it: temporary error, not a lost reply")
	for _, tc := range []struct {
		name    string
		replies []string
		want    string // the held transaction's results; "" for lost
	}{
		{"closed after the dot's reply", []string{"250 2.0.0 queued as A"}, "a@example.org=250"},
		{"closed after MAIL's", []string{"250 2.0.0 queued as A", "250 2.1.0 ok"}, "a@example.org=250"},
		{"closed after an RCPT's", []string{"250 2.0.0 queued as A", "250 2.1.0 ok", "250 2.1.5 ok"}, "a@example.org=250"},
		{"the dot refused, then closed", []string{"554 5.7.1 rejected", "250 2.1.0 ok"}, ""},
		{"a 2.1.x reply for the dot's", []string{"250 2.1.0 sender ok"}, ""},
		{"no enhanced code, MAIL's", []string{"250 ok", "250 ok", "250 ok"}, ""},
		{"no enhanced code, qmail's dot", []string{"250 ok 1733500000 qp 4711", "250 ok", "250 ok"}, "a@example.org=250"},
		{"no enhanced code, Exim's dot", []string{"250 OK id=1tA9bC-000123-XY"}, "a@example.org=250"},
		{"no enhanced code, the dot refused", []string{"554 rejected"}, ""},
		{"MAIL's reply, then 421", []string{"250 ok", "421 4.3.2 closing"}, ""},
		{"the dot's reply, then 421", []string{"250 2.0.0 queued as A", "421 4.3.2 closing"}, "a@example.org=250"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			c, first, _ := holdOn(t, func(c *fconn) {
				if !c.takeFirst() || !c.lines(4) {
					return
				}
				c.say(tc.replies...) // and the connection closes
			})
			var err error
			var res []smtpout.Result
			within(t, func() { res, _, err = c.Send(sender, rcpts("b@example.org", "c@example.org"), message, false) })
			temporary(t, err)
			if errors.Is(err, smtpout.ErrLostReply) {
				t.Errorf("second transaction: %v; want an error, not a lost reply: its data never went", err)
			}
			noneDelivered(t, res)
			if tc.want == "" {
				first.lost(t)
				return
			}
			if first.calls != 1 || first.err != nil || codes(first.res) != tc.want {
				t.Errorf("held transaction: done called %d times with %s, %v; want once, %s, no error", first.calls, codes(first.res), first.err, tc.want)
			}
		})
	}
}

// TestHoldSenderNamed: a server whose MAIL replies name the sender and
// carry no enhanced code (qpsmtpd's) gives each VERP transaction's MAIL
// another reply, which ownReplies could take for a held dot's the server
// left out (a review: recipients journaled delivered, never sent). A
// held dot goes alone before a MAIL from another sender there, and
// before any MAIL once the server's replies to MAIL have differed; it
// still goes with one from the same sender. go-smtp's servers ("250
// 2.0.0 Roger, accepting mail from <...>") are such servers too.
func TestHoldSenderNamed(t *testing.T) {
	mlmtest.Fault(t, "smtp", "a server whose replies to MAIL name the sender, without an X.1.Y code (qpsmtpd, go-smtp), with VERP", "a held dot goes alone before a MAIL from another sender, so no MAIL's reply can be taken for it; still with one from the same sender")
	noLeaks(t)
	verp := func(to string) stream.Path {
		return stream.Path{Mailbox: "dev-bounces+" + strings.Replace(to, "@", "=", 1) + "@lists.example.org"}
	}
	named := func(from stream.Path) string {
		return "250 <" + from.Mailbox + ">, sender OK - how exciting to get mail from you!"
	}
	for _, tc := range []struct {
		name    string
		mail    []string      // the server's replies to the three MAILs
		from    []stream.Path // the three transactions' senders
		chained [2]bool       // whether the next MAIL came with each of the first two dots
	}{
		{"VERP, the sender named", []string{named(verp("a@example.org")), named(verp("b@example.org")), named(verp("c@example.org"))},
			[]stream.Path{verp("a@example.org"), verp("b@example.org"), verp("c@example.org")}, [2]bool{false, false}},
		{"go-smtp's reply, VERP", []string{"250 2.0.0 Roger, accepting mail from <" + verp("a@example.org").Mailbox + ">", "250 2.0.0 Roger, accepting mail from <" + verp("b@example.org").Mailbox + ">", "250 2.0.0 Roger"},
			[]stream.Path{verp("a@example.org"), verp("b@example.org"), verp("c@example.org")}, [2]bool{false, false}},
		{"one sender, named", []string{named(sender), named(sender), named(sender)},
			[]stream.Path{sender, sender, sender}, [2]bool{true, true}},
		{"the null sender, named", []string{"250 <>, sender OK", named(sender), named(sender)},
			[]stream.Path{{}, sender, sender}, [2]bool{false, false}},
		{"replies that differ", []string{"250 ok 1", "250 ok 2", "250 ok 3"},
			[]stream.Path{sender, sender, sender}, [2]bool{true, false}},
		{"replies that differ, VERP", []string{"250 ok 1733500001", "250 ok 1733500002", "250 ok 1733500003"},
			[]stream.Path{verp("a@example.org"), verp("b@example.org"), verp("c@example.org")}, [2]bool{false, false}},
		{"the null sender, in words", []string{"250 Sender  ok", "250 Sender " + sender.Mailbox + " ok", "250 Sender " + sender.Mailbox + " ok"},
			[]stream.Path{{}, sender, sender}, [2]bool{false, false}},
		{"one sender, then another, named", []string{named(sender), named(sender), named(verp("c@example.org"))},
			[]stream.Path{sender, sender, verp("c@example.org")}, [2]bool{true, false}},
		{"the sender named less its detail, then the null sender", []string{"250 <dev-bounces@lists.example.org> ok", "250 <dev-bounces@lists.example.org> ok", "250 <> ok"},
			[]stream.Path{verp("a@example.org"), verp("b@example.org"), {}}, [2]bool{false, false}},
		{"alike to plain senders, then VERP", []string{"250 OK", "250 OK", "250 OK"},
			[]stream.Path{sender, {Mailbox: "owner@lists.example.org"}, verp("c@example.org")}, [2]bool{false, false}},
		{"a counter, VERP, then one sender", []string{"250 ok 1733500001", "250 ok 1733500002", "250 ok 1733500003"},
			[]stream.Path{verp("a@example.org"), sender, sender}, [2]bool{false, false}},
		{"the sender named less its detail, then a stranger's detail", []string{"250 <dev-bounces@lists.example.org> ok", "250 <dev-bounces@lists.example.org> ok", "250 <alice@example.net> ok"},
			[]stream.Path{verp("a@example.org"), verp("b@example.org"), {Mailbox: "alice+lists@example.net"}}, [2]bool{false, false}},
		{"the sender named less its detail, then the same in other case", []string{"250 <alice@example.net> ok", "250 <alice@example.net> ok", "250 <Alice@example.net> ok"},
			[]stream.Path{{Mailbox: "alice+a@example.net"}, {Mailbox: "alice+b@example.net"}, {Mailbox: "Alice+c@example.net"}}, [2]bool{false, false}},
		{"Exim's, VERP", []string{"250 OK", "250 OK", "250 OK"},
			[]stream.Path{verp("a@example.org"), verp("b@example.org"), verp("c@example.org")}, [2]bool{false, true}},
		{"a 2.1.x code, VERP", []string{"250 2.1.0 <" + verp("a@example.org").Mailbox + "> ok", "250 2.1.0 <" + verp("b@example.org").Mailbox + "> ok", "250 2.1.0 ok"},
			[]stream.Path{verp("a@example.org"), verp("b@example.org"), verp("c@example.org")}, [2]bool{true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var chained [2]bool
			f := serve(t, func(c *fconn) {
				if !c.hello("PIPELINING") {
					return
				}
				var held []string // a dot's reply, said after the next MAIL's lines
				for i := range 3 {
					if !c.lines(3) {
						return
					}
					if !c.answerTx(held, tc.mail[i]) {
						return
					}
					held = nil
					dot := fmt.Sprintf("250 queued %d", i+1)
					if i < 2 {
						// A MAIL sent with the dot is read with it (one
						// write); one sent after its reply cannot be.
						// Where the dot is to be held, its reply waits
						// for the commands behind it, as in
						// TestHoldChains: a client that sent it alone
						// would wait, and fail the test.
						chained[i] = c.br.Buffered() > 0
						if tc.chained[i] {
							held = []string{dot}
							continue
						}
					}
					c.say(dot)
				}
				c.rest()
			})
			c, o, held, err := holdThree(t, f.Addr(), tc.from)
			if err != nil || held != [3]bool{true, true, true} {
				t.Fatalf("Hold: held %v, %v; want each held, no error", held, err)
			}
			within(t, func() { err = c.Release() })
			if err != nil {
				t.Fatal(err)
			}
			if chained != tc.chained {
				t.Errorf("the next MAIL came with the first two dots: %v; want %v", chained, tc.chained)
			}
			for i, to := range []string{"a", "b", "c"} {
				if want := fmt.Sprintf("%s@example.org=250", to); o[i].calls != 1 || codes(o[i].res) != want || o[i].res[0].Reply.Text != fmt.Sprintf("queued %d", i+1) {
					t.Errorf("transaction %d: done called %d times with %s %v; want once, %s", i+1, o[i].calls, codes(o[i].res), o[i].err, want)
				}
			}
		})
	}
}

// TestHoldSenderNamedLost: servers whose replies to MAIL differ from one
// VERP transaction to the next leave out a dot's reply, give the next
// MAIL's in its place, and close (or say 421): that dot's recipients
// count as lost (ErrLostReply), never delivered on the MAIL's reply
// (a review's cases).
func TestHoldSenderNamedLost(t *testing.T) {
	mlmtest.Fault(t, "smtp", "a dot's reply left out, the next MAIL's given in its place and the connection closed, with VERP, where the replies to MAIL differ from sender to sender", "the dot's recipients: ErrLostReply (deferred), never delivered on the MAIL's reply")
	verp := func(to string) stream.Path {
		return stream.Path{Mailbox: "dev-bounces+" + strings.Replace(to, "@", "=", 1) + "@lists.example.org"}
	}
	from := []stream.Path{verp("a@example.org"), verp("b@example.org"), verp("c@example.org")}
	for _, tc := range []struct {
		name  string
		from  []stream.Path
		mail  []string
		lose  int      // the dot whose reply is left out
		after []string // said after the next MAIL's reply, before the end
	}{
		{"a counter, the second dot", from, []string{"250 ok 1733500001", "250 ok 1733500002", "250 ok 1733500003"}, 1, nil},
		{"a counter, the second dot, then 421", from, []string{"250 ok 1733500001", "250 ok 1733500002", "250 ok 1733500003"}, 1, []string{"421 4.3.2 closing"}},
		{"the null sender in words, then VERP", []stream.Path{{}, from[1], from[2]}, []string{"250 Sender  ok", "250 Sender " + from[1].Mailbox + " ok", "250 Sender " + from[2].Mailbox + " ok"}, 0, nil},
		{"qpsmtpd's", from, []string{"250 <" + from[0].Mailbox + ">, sender OK", "250 <" + from[1].Mailbox + ">, sender OK", "250 <" + from[2].Mailbox + ">, sender OK"}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := serve(t, func(c *fconn) {
				if !c.hello("PIPELINING") {
					return
				}
				var held []string
				for i := range 3 {
					if !c.lines(3) {
						return
					}
					if i == tc.lose+1 {
						// The dot's reply left out: the MAIL's in its
						// place, then the end.
						c.say(append([]string{tc.mail[i]}, tc.after...)...)
						return
					}
					if !c.answerTx(held, tc.mail[i]) {
						return
					}
					held = nil
					dot := fmt.Sprintf("250 queued %d", i+1)
					if c.br.Buffered() > 0 {
						held = []string{dot} // said after the next MAIL's lines
						continue
					}
					if i == tc.lose {
						return // the dot alone, its reply left out: the end
					}
					c.say(dot)
				}
				c.rest()
			})
			c, o, _, _ := holdThree(t, f.Addr(), tc.from)
			within(t, func() { c.Release() })
			if h := o[tc.lose]; h.calls != 1 || len(h.res) != 0 || !errors.Is(h.err, smtpout.ErrLostReply) {
				t.Errorf("transaction %d, whose dot got no reply: done called %d times with %s, %v; want once, no result, ErrLostReply", tc.lose+1, h.calls, codes(h.res), h.err)
			}
		})
	}
}

// holdThree dials addr and holds a transaction to a@, b@ and
// c@example.org in turn, from each of from, until a Hold fails: the
// client (closed at the test's end), the transactions' outcomes, which
// of them were held, and the error of the Hold that failed.
func holdThree(t *testing.T, addr string, from []stream.Path) (*smtpout.Client, *[3]outcome, [3]bool, error) {
	t.Helper()
	c, err := dial(t, addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var o [3]outcome
	var held [3]bool
	for i, to := range []string{"a@example.org", "b@example.org", "c@example.org"} {
		within(t, func() { _, _, held[i], err = c.Hold(from[i], rcpts(to), message, false, o[i].done) })
		if err != nil {
			break
		}
	}
	return c, &o, held, err
}

// answerTx answers a transaction's MAIL, one RCPT and DATA, after the
// replies held (a dot's, said after the next MAIL's lines), with mail
// to MAIL, and reads its message up to the final dot; false if the
// client went away first.
func (c *fconn) answerTx(held []string, mail string) bool {
	c.say(append(held, mail, "250 ok", "354 go")...)
	return c.data()
}
