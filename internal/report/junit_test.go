package report

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantcheck/tenantcheck/internal/model"
)

// parsedSuites is an independent reading of the JUnit schema, so the test
// does not just decode the renderer's own structs back.
type parsedSuites struct {
	XMLName xml.Name `xml:"testsuites"`
	Tests   int      `xml:"tests,attr"`
	Suites  []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Cases    []struct {
			Name      string  `xml:"name,attr"`
			Classname string  `xml:"classname,attr"`
			Failure   *parsed `xml:"failure"`
			Error     *parsed `xml:"error"`
			Skipped   *parsed `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

type parsed struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

func TestJUnitParsesBack(t *testing.T) {
	rep := fixtureReport(t)
	var doc parsedSuites
	require.NoError(t, xml.Unmarshal([]byte(render(t, rep, JUnit)), &doc))
	assert.Equal(t, len(rep.Results), doc.Tests)

	byName := map[string]int{}
	for _, s := range doc.Suites {
		assert.Equal(t, s.Tests, len(s.Cases), "suite %s", s.Name)
		for _, c := range s.Cases {
			assert.Equal(t, "tenantcheck."+s.Name, c.Classname)
			byName[c.Name]++
		}
	}
	for _, res := range rep.Results {
		assert.Equal(t, 1, byName[checkTitle(res)], "check %s appears once", res.CheckID)
	}
	assert.Equal(t, []string{"rbac", "podsecurity", "network", "flux"}, suiteNames(doc))
}

func TestJUnitVerdictElements(t *testing.T) {
	rep := fixtureReport(t)
	var doc parsedSuites
	require.NoError(t, xml.Unmarshal([]byte(render(t, rep, JUnit)), &doc))
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			res := resultByTitle(t, rep, c.Name)
			var got []string
			for name, p := range map[string]*parsed{"failure": c.Failure, "error": c.Error, "skipped": c.Skipped} {
				if p != nil {
					got = append(got, name)
					assert.Equal(t, res.Reason, p.Message, "%s message", c.Name)
				}
			}
			want := map[model.Verdict][]string{
				model.VerdictHeld: nil, model.VerdictBroken: {"failure"},
				model.VerdictError: {"error"}, model.VerdictSkipped: {"skipped"},
			}[res.Verdict]
			assert.Equal(t, want, got, "%s (%s)", c.Name, res.Verdict)
			for _, p := range []*parsed{c.Failure, c.Error} {
				if p == nil {
					continue
				}
				assert.Contains(t, p.Body, "expected: "+res.Expected)
				assert.Contains(t, p.Body, "observed: "+res.Observed)
				for _, ev := range res.Evidence {
					assert.Contains(t, p.Body, "\n    "+ev.Repro+"\n", "repro on its own line")
				}
			}
		}
	}
}

func TestJUnitSanitisesControlCharacters(t *testing.T) {
	rep := fixtureReport(t)
	rep.Results[0].Evidence[0].Raw = "partial\x00answer\x1b[0m ]]> end"
	var doc parsedSuites
	require.NoError(t, xml.Unmarshal([]byte(render(t, rep, JUnit)), &doc))
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			if c.Failure != nil {
				assert.Contains(t, c.Failure.Body, "partial\uFFFDanswer\uFFFD[0m ]]> end")
			}
		}
	}
}

func suiteNames(doc parsedSuites) []string {
	var out []string
	for _, s := range doc.Suites {
		out = append(out, s.Name)
	}
	return out
}

func resultByTitle(t *testing.T, rep *model.Report, title string) model.Result {
	t.Helper()
	for _, res := range rep.Results {
		if checkTitle(res) == title {
			return res
		}
	}
	require.Failf(t, "unknown test case", "%q", title)
	return model.Result{}
}

func TestXMLSafeKeepsText(t *testing.T) {
	assert.Equal(t, "a\tb\nc → d", xmlSafe("a\tb\nc → d"))
	assert.True(t, strings.ContainsRune(xmlSafe("\x07"), '\uFFFD'))
}
