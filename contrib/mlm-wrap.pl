#!/usr/bin/perl
# mlm-wrap.pl: wrap one message on stdin in an MLM1 record on stdout.
# A stand-in for mlm-wrap(1) in core Perl; the same conformance scripts
# run it (tests/testdata/conform). Flags: -a NAME=VALUE, -F, -f SENDER,
# -i ID, -r RCPT.
use strict;
use warnings;
use Getopt::Long qw(:config bundling no_ignore_case);

my $prog = 'mlm-wrap';
my (@attr, @rcpt, $sender, $id, $fromline);
GetOptions(
	'a|attr=s'    => \@attr,
	'F|from-line' => \$fromline,
	'f|sender=s'  => \$sender,
	'i|id=s'      => \$id,
	'r|rcpt=s'    => \@rcpt,
) or fail(64, "usage: $prog [-a NAME=VALUE] [-F] [-f SENDER] [-i ID] [-r RCPT]");

# RFC 5321 Mailbox, UTF-8 allowed (RFC 6531); a simplified check.
my $atext  = qr/[A-Za-z0-9!#\$%&'*+\/=?^_`{|}~\x80-\xff-]/;
my $quoted = qr/"(?:[\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\x20-\x7e])*"/;
my $label  = qr/[A-Za-z0-9\x80-\xff](?:[A-Za-z0-9\x80-\xff-]*[A-Za-z0-9\x80-\xff])?/;
my $domain = qr/$label(?:\.$label)*|\[[\x21-\x3d\x3f-\x5a\x5e-\x7e]+\]/;

sub fail { my ($code, $msg) = @_; print STDERR "$prog: $msg\n"; exit $code; }
sub mailbox_ok {
	my $s = shift;
	return length($s) <= 254 && $s =~ /\A(?:$atext+(?:\.$atext+)*|$quoted)\@(?:$domain)\z/;
}
sub path {
	my ($s, $what) = @_;
	return '<>' if $what eq 'sender' && $s eq '';
	mailbox_ok($s) or fail(65, "$what: bad address");
	return "<$s>";
}
sub escape { my $v = shift; $v =~ s/([\x00-\x20%\x7f])/sprintf('%%%02X', ord $1)/ge; return $v; }

if (defined $id) {
	$id =~ /\A[A-Za-z0-9._,-]{1,255}\z/ or fail(64, '-i: bad record id');
} else {
	$id = sprintf('%d.P%dR%08x', time, $$, int(rand(2**32)));
}
my @lines = ("MLM1 $id\n");
for my $a (@attr) {
	my ($n, $v) = split /=/, $a, 2;
	$n =~ /\A[a-z][a-z0-9.-]{0,63}\z/ or fail(64, '-a: bad attribute name');
	push @lines, "A $n=" . escape($v // '') . "\n";
}
my @r = map { 'R ' . path($_, 'recipient') . "\n" } @rcpt;
my $s = defined $sender ? path($sender, 'sender') : '<>';

binmode STDIN;
binmode STDOUT;
my $l = <STDIN>;
exit 0 unless defined $l;    # empty input: nothing to do
if ($fromline && $l =~ /\AFrom /) {
	if (!defined $sender) {
		my ($f) = $l =~ /\AFrom (\S*)/;
		$f = '' if $f eq 'MAILER-DAEMON' || $f eq '<>';
		$f =~ s/\A<(.*)>\z/$1/;
		$s = $f eq '' ? '<>' : (mailbox_ok($f) ? "<$f>" : fail(65, 'bad sender in From_ line'));
	}
	$l = <STDIN>;
}
print @lines, "S $s\n";
while (defined $l) {
	my $nl = chomp $l;
	print ';', substr($l, 0, 65534, ''), "\n" while length($l) > 65534;
	if ($nl) { print ':', $l, "\n" } elsif (length $l) { print ';', $l, "\n" }
	$l = <STDIN>;
}
print @r, 'E ', scalar(@r), "\n";
close STDOUT or fail(75, "stdout: $!");
