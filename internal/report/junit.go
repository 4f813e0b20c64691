package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"time"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// The JUnit XML schema as CI systems (Jenkins, GitLab, GitHub test
// reporters) read it: one suite per layer, one test case per check.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
}

// junitProblem is the body of a <failure> or an <error>.
type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	// Body is CDATA so the multi-line detail stays readable in the file.
	Body string `xml:",cdata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// renderJUnit writes one <testsuite> per layer, in report order.
func renderJUnit(b *bytes.Buffer, r *model.Report) error {
	doc := junitSuites{Name: "tenantcheck"}
	var total time.Duration
	for _, s := range summaries(r) {
		suite := junitSuiteOf(s, r)
		doc.Suites = append(doc.Suites, suite)
		doc.Tests += suite.Tests
		doc.Failures += suite.Failures
		doc.Errors += suite.Errors
		doc.Skipped += suite.Skipped
		for _, res := range r.Results {
			if res.Layer == s.Layer {
				total += time.Duration(res.Duration)
			}
		}
	}
	// The checks run concurrently, so the run's wall time, when known, is
	// the honest total; the sum of check durations is the fallback.
	if !r.Metadata.Start.IsZero() && r.Metadata.End.After(r.Metadata.Start) {
		total = r.Metadata.End.Sub(r.Metadata.Start)
	}
	doc.Time = seconds(total)
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(b)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode junit: %w", err)
	}
	b.WriteString("\n")
	return nil
}

// junitSuiteOf builds the suite of one layer from its summary and results.
func junitSuiteOf(s model.LayerSummary, r *model.Report) junitSuite {
	suite := junitSuite{
		Name:     string(s.Layer),
		Tests:    s.Held + s.Broken + s.Errors + s.Skipped,
		Failures: s.Broken,
		Errors:   s.Errors,
		Skipped:  s.Skipped,
		Properties: []junitProperty{
			{"protectsAgainst", s.ProtectsAgainst},
			{"clusterVersion", r.Metadata.ClusterVersion},
			{"cni", r.Metadata.CNI},
			{"mode", string(r.Metadata.Mode)},
			{"tenantcheckVersion", r.Metadata.TenantcheckVersion},
		},
	}
	if !r.Metadata.Start.IsZero() {
		suite.Timestamp = r.Metadata.Start.UTC().Format("2006-01-02T15:04:05")
	}
	var total time.Duration
	for _, res := range r.Results {
		if res.Layer == s.Layer {
			suite.Cases = append(suite.Cases, junitCaseOf(res))
			total += time.Duration(res.Duration)
		}
	}
	suite.Time = seconds(total)
	return suite
}

// junitCaseOf maps a verdict to JUnit: Broken is a failure, Skipped is
// skipped, Held passes, and Error (or an unknown verdict) is an error.
func junitCaseOf(res model.Result) junitCase {
	c := junitCase{
		Name:      checkTitle(res),
		Classname: "tenantcheck." + string(res.Layer),
		Time:      seconds(time.Duration(res.Duration)),
	}
	switch res.Verdict {
	case model.VerdictHeld:
	case model.VerdictSkipped:
		c.Skipped = &junitSkipped{Message: oneLine(res.Reason)}
	case model.VerdictBroken:
		c.Failure = &junitProblem{Message: oneLine(res.Reason), Type: "Broken", Body: detailText(res)}
	default:
		msg := oneLine(res.Reason)
		if !res.Verdict.Valid() {
			msg = fmt.Sprintf("unknown verdict %q: %s", res.Verdict, msg)
		}
		c.Error = &junitProblem{Message: msg, Type: "Error", Body: detailText(res)}
	}
	return c
}

// detailText is the plain-text detail of a result, for a JUnit body.
func detailText(res model.Result) string {
	var b bytes.Buffer
	b.WriteString("\n")
	writeDetail(&b, res, "")
	return xmlSafe(b.String())
}

// xmlSafe replaces the characters XML 1.0 cannot carry (NUL and most other
// control characters, which raw probe output may hold) with U+FFFD. CDATA
// is written as is by encoding/xml, so they must go before encoding.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF:
			return '\uFFFD'
		}
		return r
	}, s)
}

// seconds formats d as JUnit does, in seconds with millisecond precision.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.3f", d.Seconds())
}
