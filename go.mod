module mlm

go 1.26

require (
	github.com/alecthomas/kong v1.17.0
	github.com/emersion/go-message v0.18.2
	github.com/emersion/go-sasl v0.0.0-20241020182733-b788ff22d5a6
	github.com/emersion/go-smtp v0.25.1
	github.com/rogpeppe/go-internal v1.16.0
	golang.org/x/net v0.30.0
	golang.org/x/sys v0.26.0
	golang.org/x/text v0.19.0
)

require golang.org/x/tools v0.26.0 // indirect
