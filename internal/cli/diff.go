package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/tenantcheck/tenantcheck/internal/diff"
	"github.com/tenantcheck/tenantcheck/internal/model"
)

// diffCmd compares two stored JSON reports; exit 1 on any regression.
func diffCmd(s Streams, args []string) (int, error) {
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	fs.SetOutput(s.Err)
	output := fs.String("o", "text", "output format: text or json")
	if err := fs.Parse(args); err != nil {
		return ExitIncomplete, err
	}
	if fs.NArg() != 2 {
		return ExitIncomplete, fmt.Errorf("diff takes two reports: tenantcheck diff BEFORE.json AFTER.json")
	}
	if *output != "text" && *output != "json" {
		return ExitIncomplete, fmt.Errorf("diff -o %q: want text or json", *output)
	}
	before, err := readReport(fs.Arg(0))
	if err != nil {
		return ExitIncomplete, err
	}
	after, err := readReport(fs.Arg(1))
	if err != nil {
		return ExitIncomplete, err
	}
	d := diff.Compare(before, after)
	if *output == "json" {
		enc := json.NewEncoder(s.Out)
		enc.SetIndent("", "  ")
		err = enc.Encode(d)
	} else {
		err = d.Render(s.Out)
	}
	if err != nil {
		return ExitIncomplete, err
	}
	return d.ExitCode(), nil
}

func readReport(path string) (*model.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	defer f.Close()
	r, err := model.DecodeReport(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}
