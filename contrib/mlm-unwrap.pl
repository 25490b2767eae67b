#!/usr/bin/perl
# mlm-unwrap.pl: write the messages of an MLM1 stream on stdin, byte for
# byte, to stdout. A stand-in for mlm-unwrap(1) in core Perl (no options:
# it refuses them, 64); it checks the order of lines and the E count,
# not every rule.
use strict;
use warnings;
use IO::Handle;

my $prog = 'mlm-unwrap';
my ($n, $state, $count) = (0, 'idle', 0);
sub fail { print STDERR "$prog: line $n: $_[0]\n"; exit 65; }

# It has none of mlm-unwrap's options: -e or -d DIR, ignored, would
# write the messages on standard output as if all were well.
shift @ARGV if @ARGV && $ARGV[0] eq '--'; # the end of no options, as mlm-unwrap takes it
if (@ARGV) {
	print STDERR "$prog: unexpected argument $ARGV[0]; the Perl stand-in takes no options\n";
	exit 64;
}

binmode STDIN;
binmode STDOUT;
while (my $l = <STDIN>) {
	$n++;
	chomp $l or fail('last line has no LF');
	fail('CR in envelope line') if $l =~ /\A[^:;].*\r/s;
	if ($state eq 'idle') {
		$l =~ /\AMLM1 [A-Za-z0-9._,-]{1,255}\z/ or fail('bad start line');
		($state, $count) = ('attrs', 0);
	} elsif ($state eq 'attrs') {
		if ($l =~ /\AS </) { $state = 'msg' }
		elsif ($l !~ /\AA [a-z][a-z0-9.-]*=/) { fail('expected attribute or sender line') }
	} elsif ($l =~ /\A:(.*)\z/s && $state eq 'msg') {
		print $1, "\n";
	} elsif ($l =~ /\A;(.+)\z/s && $state eq 'msg') {
		print $1;
	} elsif ($l =~ /\AR </) {
		($state, $count) = ('rcpts', $count + 1);
	} elsif ($l =~ /\AE (0|[1-9][0-9]{0,9})\z/) {
		$1 == $count or fail("count $1, but $count recipient lines");
		$state = 'idle';
	} else {
		fail('unexpected line');
	}
}
# A read error ends the loop as the end of input does: 75, not a
# stream cut short (65) nor one read whole (0).
if (STDIN->error) { print STDERR "$prog: stdin: $!\n"; exit 75 }
fail('end of input inside record') unless $state eq 'idle';
close STDOUT or do { print STDERR "$prog: stdout: $!\n"; exit 75 };
