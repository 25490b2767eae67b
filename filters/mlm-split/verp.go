package main

import "mlm/lib/addr"

// maxLocal is the longest local part a VERP sender may have.
const maxLocal = addr.MaxLocal

// verp returns the sender for a record to rcpt alone, with rcpt encoded
// in it (addr.VERP): sender "dev-bounces@host" and recipient
// "user@domain" give "dev-bounces+user=domain@host"; ok is false when
// that cannot be done.
func verp(sender, rcpt string) (v string, ok bool) { return addr.VERP(sender, rcpt) }
