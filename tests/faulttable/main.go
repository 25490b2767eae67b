// faulttable turns the rows the fault suite appends to $MLM_FAULT_TABLE
// (lib/mlmtest.Fault) into the Markdown table of tests/FAULTS.md, one
// section per area, rows sorted; `make faults` runs it. It exits 1 if a
// row failed, so a table is only ever made from a passing suite.
package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strings"
)

func main() {
	type row struct{ area, fault, result, status, test string }
	var rows []row
	seen := map[row]bool{}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 5 {
			fmt.Fprintf(os.Stderr, "faulttable: bad row %q\n", sc.Text())
			os.Exit(1)
		}
		r := row{f[0], f[1], f[2], f[3], f[4]}
		if !seen[r] {
			seen[r] = true
			rows = append(rows, r)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.area != b.area {
			return a.area < b.area
		}
		if a.fault != b.fault {
			return a.fault < b.fault
		}
		return a.test < b.test
	})
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(w, "# Faults and hostile input")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Made by `make faults` from the rows the tests themselves write")
	fmt.Fprintln(w, "(lib/mlmtest.Fault): each fault or input injected, the result the test")
	fmt.Fprintln(w, "asserts, and how it came out. Do not edit by hand.")
	failed := 0
	area := ""
	for _, r := range rows {
		if r.area != area {
			area = r.area
			fmt.Fprintf(w, "\n## %s\n\n| fault or input | result asserted | outcome | test |\n|---|---|---|---|\n", area)
		}
		fmt.Fprintf(w, "| %s | %s | %s | `%s` |\n", r.fault, r.result, r.status, r.test)
		if r.status == "FAIL" {
			failed++
		}
	}
	w.Flush()
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "faulttable: %d rows failed\n", failed)
		os.Exit(1)
	}
}
