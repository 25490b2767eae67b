// mlm-pipeline runs programs joined by pipes, as "|" in an MTA alias
// would, and exits with one status that keeps every stage's failure: 75
// if any stage may work later, else the first stage's failure.
// See mlm-pipeline(1).
package main

import (
	"io"
	"os"

	"mlm/lib/cli"
	"mlm/lib/pipeline"
	"mlm/lib/sysexit"
)

const prog = "mlm-pipeline"

type args struct {
	Stages []string `arg:"" name:"stage" passthrough:"partial" help:"A program and its arguments for each stage; -- separates the stages."`
}

func main() {
	var a args
	cli.Main(prog, "Run programs joined by pipes; exit with the worst status.", &a, func() error {
		return exit(run(a.Stages, os.Stdin, os.Stdout, os.Stderr))
	}, cli.MTA)
}

// run splits argv into stages and runs them with in, out and errw as the
// pipeline's standard input, output and error.
func run(argv []string, in io.Reader, out, errw io.Writer) (int, error) {
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:] // kong keeps the end-of-options marker in a passthrough argument
	}
	stages, err := pipeline.Split(argv)
	if err != nil {
		return sysexit.Usage, err
	}
	return pipeline.Run(stages, pipeline.Options{Stdin: in, Stdout: out, Stderr: errw})
}

// exit turns the pipeline's status into the program's. A stage that
// exited non-zero has said why on standard error, so its status is
// silent, as after a chain-loading exec; only what no stage could say,
// such as a missing program or a signal, is reported.
func exit(code int, err error) error {
	if err == nil {
		return sysexit.Silent(code)
	}
	return sysexit.Perm(code, err)
}
