#!/usr/bin/perl
# mlm-wrap.pl: wrap one message on stdin in an MLM1 record on stdout.
# A stand-in for mlm-wrap(1) in core Perl; the same conformance scripts
# run it (tests/testdata/conform). Flags: -a NAME=VALUE, -F, -f SENDER,
# -i ID, -r RCPT.
use strict;
use warnings;
use Getopt::Long qw(:config bundling no_ignore_case);
use Socket ();

my $prog = 'mlm-wrap';
my (@attr, @rcpt, $sender, $id, $fromline);
my $usage = "usage: $prog [-a NAME=VALUE] [-F] [-f SENDER] [-i ID] [-r RCPT]";
GetOptions(
	'a|attr=s'    => \@attr,
	'F|from-line' => \$fromline,
	'f|sender=s'  => \$sender,
	'i|id=s'      => \$id,
	'r|rcpt=s'    => \@rcpt,
) or fail(64, $usage);
# The message is standard input: an argument, a file name given by
# mistake, is refused rather than ignored.
@ARGV and fail(64, "unexpected argument $ARGV[0]; $usage");

# RFC 5321 Mailbox, UTF-8 allowed (RFC 6531), as the stream takes it:
# labels of 63 octets at most, address literals IPv4, IPv6 or tag:text.
my $atext  = qr/[A-Za-z0-9!#\$%&'*+\/=?^_`{|}~\x80-\xff-]/;
my $quoted = qr/"(?:[\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\x20-\x7e])*"/;
my $label  = qr/[A-Za-z0-9\x80-\xff](?:[A-Za-z0-9\x80-\xff-]{0,61}[A-Za-z0-9\x80-\xff])?/;
my $domain = qr/$label(?:\.$label)*/;
my $octet  = qr/(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])/;
# UTF-8 as RFC 3629 has it: no surrogates, nothing past U+10FFFF, no
# overlong forms (utf8::decode lets the first two by).
my $utf8 = qr/(?:[\x00-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2})/;
# What no U-label may hold, as mlm-wrap refuses it: a space or separator,
# a control, a format character but the joiners ZWNJ and ZWJ, a full
# stop other than ".", U+FFFD.
my $harmful = qr/(?![\x{200C}\x{200D}])[\p{Z}\p{Cc}\p{Cf}\x{3002}\x{FF0E}\x{FF61}\x{FFFD}]/;

sub fail { my ($code, $msg) = @_; print STDERR "$prog: $msg\n"; exit $code; }
sub literal_ok {
	my $l = shift;
	return 1 if $l =~ /\A$octet(?:\.$octet){3}\z/;
	if ($l =~ /\AIPv6:(.+)\z/i) {
		my $a = $1;
		return $a !~ /%/ && defined Socket::inet_pton(Socket::AF_INET6(), $a);
	}
	return $l =~ /\A[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?:[\x21-\x3d\x3f-\x5a\x5e-\x7e]+\z/;
}
sub mailbox_ok {
	my $s = shift;
	return 0 unless length($s) <= 254 && $s =~ /\A$utf8*\z/;
	my ($local, $dom) = $s =~ /\A($atext+(?:\.$atext+)*|$quoted)\@(.*)\z/s or return 0;
	return literal_ok($1) if $dom =~ /\A\[(.*)\]\z/s;
	return 0 unless length($dom) <= 255 && $dom =~ /\A$domain\z/;
	my $u = $dom;
	utf8::decode($u);
	return $u !~ $harmful;
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
# The input is read a block at a time, never a line: a line of any
# length goes through in the memory of two stream lines.
my ($buf, $eof) = ('', 0);
sub more {
	my $n = read(STDIN, $buf, 65536, length $buf);
	defined $n or fail(75, "stdin: $!");
	$eof = 1 if $n == 0;
}
more() until $eof || length $buf;
exit 0 unless length $buf;    # empty input: nothing to do
length($_) > 65536 and fail(65, 'attribute line of ' . length($_) . ' octets, over 65536') for @lines;
@attr > 1000 and fail(65, 'more than 1000 attribute lines');    # what a reader takes
# A From_ line, not "From :" (the obsolete From field) nor "From " and
# white space alone in the first 256 octets, as mlm-wrap looks. Its
# sender ends at the first space, but for one in a quoted local part
# ("john smith"@, as Postfix's local(8) writes it) or in angle brackets
# (<"a b"@x>).
# Its first line, in the first 65536 octets, less a CR that ends it: a
# CR left in it (a message whose lines end in CR alone) makes it no
# From_ line, nor does "From " and white space alone on it.
more() while $fromline && index($buf, "\n") < 0 && !$eof && length $buf < 65536;
(my $first = substr($buf, 0, 65536)) =~ s/\n.*//s;
$first =~ s/\r\z//;
if ($fromline && $first !~ /\r/ && substr($first, 0, 256) =~ /\AFrom [ \t]*[^: \t]/) {
	more() while index($buf, "\n") < 0 && !$eof && length $buf < 65536;
	my $i = index($buf, "\n");
	($i < 0 ? length $buf : $i + 1) >= 65536 + ($i >= 0) and fail(65, 'From_ line: over 65535 octets without LF, or 65536 with it');
	my $l = substr($buf, 0, $i < 0 ? length $buf : $i + 1, '');
	if (!defined $sender) {
		(my $r = substr($l, 5)) =~ s/[\r\n]+\z//;
		my ($f) = $r =~ /\A((?:<(?:[^">]|"(?:[^"\\]|\\.)*")*>|"(?:[^"\\\x00-\x1f\x7f]|\\[\x20-\x7e])*"|)[^ ]*)/s;
		my $null = $f eq 'MAILER-DAEMON' || $f eq '<>' || $f eq '#@[]'
			# "From  date", no sender: the null sender, as procmail -f '' writes it
			|| $f eq '' && $r =~ /\A +(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?: [1-9]|[12][0-9]|3[01]) (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9] [0-9]{4}(?: |\z)/;
		$f =~ s/\A<(.*)>\z/$1/s;
		$s = $null ? '<>' : (mailbox_ok($f) ? "<$f>" : fail(65, 'bad sender in From_ line'));
	}
}
print @lines, "S $s\n";
# A line of 65534 octets or fewer is a ":" line; a longer one, or a
# last one without LF, goes in ";" pieces of 65534, the last shorter.
while (1) {
	my $i = index($buf, "\n");
	if ($i >= 0 && $i <= 65534) {
		print ':', substr($buf, 0, $i + 1, '');
	} elsif (length $buf > 65534) {
		print ';', substr($buf, 0, 65534, ''), "\n";
	} elsif ($eof) {
		last;
	} else {
		more();
	}
}
print ';', $buf, "\n" if length $buf;
print @r, 'E ', scalar(@r), "\n";
close STDOUT or fail(75, "stdout: $!");
