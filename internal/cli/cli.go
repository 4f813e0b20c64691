// Package cli is tenantcheck's command line: flags, wiring and exit codes.
// Exit codes: 0 every layer holds, 1 a layer is broken, 2 the run could not
// be done (bad input, unreachable cluster, missing permission, interrupt).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tenantcheck/tenantcheck/internal/kube"
	"github.com/tenantcheck/tenantcheck/internal/layers"
	"github.com/tenantcheck/tenantcheck/internal/layers/network"
	"github.com/tenantcheck/tenantcheck/internal/model"
	"github.com/tenantcheck/tenantcheck/internal/spec"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = "dev"

// Streams are the command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// Exit codes.
const (
	ExitHeld       = 0
	ExitBroken     = 1
	ExitIncomplete = 2
	ExitLocked     = 3
)

const usage = `tenantcheck proves, on a live cluster, that tenant isolation holds.

usage:
  tenantcheck run [flags]      provision test tenants as the guide's baseline, try to break out, report
  tenantcheck audit [flags]    the same against existing tenants (--spec, or found by --discover-label);
                               changes none of their policies, quotas or RBAC
  tenantcheck cleanup [flags]  remove what interrupted runs left behind (found by label)
  tenantcheck diff BEFORE.json AFTER.json   what broke, what was fixed (exit 1 on any regression)
  tenantcheck version

Run 'tenantcheck <command> -h' for a command's flags.
Exit codes:
  0  every check that ran holds (some may be skipped, with the reason)
  1  a check found isolation broken, whatever failed afterwards (cleanup, storing the report)
  2  the run could not be done, a check could not answer, or nothing was verified (all skipped)
  3  another run holds the lock (--lock); this one did not run
`

// Program is the name the binary was started as (argv[0]'s base name). As
// kubectl-tenantcheck on PATH it is a kubectl plugin: `kubectl tenantcheck
// audit` runs it with the arguments after the plugin's name, and its help
// says so.
var Program = "tenantcheck"

func plugin() bool { return strings.HasPrefix(Program, "kubectl-") }

func usageText() string {
	if !plugin() {
		return usage
	}
	return strings.ReplaceAll(strings.ReplaceAll(usage, "  tenantcheck ", "  kubectl tenantcheck "), "'tenantcheck ", "'kubectl tenantcheck ")
}

// globalFlags are kubectl's habits that tenantcheck shares, which a kubectl
// user puts before the command (`kubectl tenantcheck --context prod audit`).
var globalFlags = []string{"kubeconfig", "context", "n", "namespace"}

// hoistGlobals moves those flags from before the command to after it,
// where the command's own flag set reads them.
func hoistGlobals(args []string) ([]string, error) {
	var globals []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help" {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		if !slices.Contains(globalFlags, name) {
			return nil, fmt.Errorf("flag %s before the command: only --kubeconfig, --context and -n may come first; run '%s --help'", args[0], strings.Replace(Program, "-", " ", 1))
		}
		if !hasValue {
			if len(args) < 2 {
				return nil, fmt.Errorf("flag --%s needs a value", name)
			}
			value, args = args[1], args[1:]
		}
		globals = append(globals, "--"+name+"="+value)
		args = args[1:]
	}
	if len(globals) == 0 || len(args) == 0 {
		return args, nil
	}
	return append(append([]string{args[0]}, globals...), args[1:]...), nil
}

// Run executes one command line and returns the exit code.
func Run(ctx context.Context, s Streams, args []string) int {
	args, err := hoistGlobals(args)
	if err != nil {
		fmt.Fprintf(s.Err, "%s: %v\n", Program, err)
		return ExitIncomplete
	}
	if len(args) == 0 {
		fmt.Fprint(s.Err, usageText())
		return ExitIncomplete
	}
	code := ExitHeld
	switch args[0] {
	case "run":
		code, err = runCmd(ctx, s, args[1:], model.ModeProvision)
	case "audit":
		code, err = runCmd(ctx, s, args[1:], model.ModeAudit)
	case "cleanup":
		err = cleanupCmd(ctx, s, args[1:])
	case "diff":
		code, err = diffCmd(s, args[1:])
	case "version":
		fmt.Fprintf(s.Out, "tenantcheck %s\n", Version)
	case "-h", "--help", "help":
		fmt.Fprint(s.Out, usageText())
	default:
		err = fmt.Errorf("unknown command %q; run 'tenantcheck --help'", args[0])
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitHeld
	}
	if err != nil {
		fmt.Fprintf(s.Err, "tenantcheck: %v\n", err)
		if code == ExitHeld {
			code = ExitIncomplete
		}
	}
	return code
}

// namespaceList is a repeatable -n: kubectl's habit of naming namespaces.
type namespaceList []string

func (l *namespaceList) String() string { return strings.Join(*l, ",") }

func (l *namespaceList) Set(v string) error {
	for _, ns := range strings.Split(v, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			*l = append(*l, ns)
		}
	}
	return nil
}

type clusterFlags struct{ kubeconfig, context string }

func (c *clusterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.StringVar(&c.context, "context", "", "kubeconfig context (default: the current one)")
}

func (c *clusterFlags) client() (*kube.Client, error) {
	return kube.Load(kube.Options{Kubeconfig: c.kubeconfig, Context: c.context})
}

type runFlags struct {
	cluster    clusterFlags
	specFile   string
	layers     string
	output     string
	outputFile string
	doneFile   string
	summary    bool
	keep       bool
	timeout    time.Duration
	image      string
	pull       string
	probeTO    time.Duration
	maxShapes  int
	cleanupTO  time.Duration
	domain     string
	priority   string
	pairs      string
	// audit only
	discoverLabel string
	namespaces    namespaceList // -n: audit only these namespaces' tenants
	noPods        bool
	fluxLive      bool
	inCluster     inClusterFlags
	exports       exportFlags
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func parseRun(args []string, errw io.Writer, mode model.Mode) (*runFlags, error) {
	f := &runFlags{}
	name := "run"
	if mode == model.ModeAudit {
		name = "audit"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(errw)
	f.cluster.register(fs)
	if mode == model.ModeAudit {
		fs.StringVar(&f.specFile, "spec", "", "tenancy spec naming the existing tenant and shared namespaces (default: discover by --discover-label)")
		fs.StringVar(&f.discoverLabel, "discover-label", spec.DefaultTenantLabel, "namespace label whose value names the tenant, when no --spec is given")
		fs.Var(&f.namespaces, "n", "audit only this namespace (repeatable, or comma-separated): the tenants --discover-label names on the namespaces given, at least two, instead of every labelled namespace")
		fs.Var(&f.namespaces, "namespace", "same as -n")
		fs.BoolVar(&f.noPods, "no-pods", false, "place no probe pods: run only the API layers")
		fs.BoolVar(&f.fluxLive, "flux-live", false, "also run Flux's live checks: an ExternalArtifact in two tenants and Kustomizations in one, reconciled by their Flux (needs the extra permissions of deploy/components/flux-live)")
		fs.StringVar(&f.priority, "priority-class", "", "PriorityClass of the probe pods placed in tenant namespaces (deploy/ ships tenantcheck-probe: below every tenant's pods, never preempting); default: the cluster's default")
		fs.IntVar(&f.maxShapes, "max-shapes", network.DefaultMaxShapes, fmt.Sprintf("workload shapes per tenant namespace judged and mimicked, largest first (1-%d); the report names the rest", network.MaxShapesCeiling))
	} else {
		fs.StringVar(&f.specFile, "spec", "", "tenancy spec file (default: the guide's baseline, two tenants and ingress-shared)")
	}
	fs.StringVar(&f.layers, "layers", strings.Join(layerNames(available), ","), "layers to check, comma-separated (available: "+strings.Join(layerNames(available), ", ")+")")
	fs.StringVar(&f.output, "o", "table", "output format: table, json, junit, markdown")
	fs.StringVar(&f.output, "output", "table", "same as -o")
	fs.StringVar(&f.outputFile, "output-file", "", "write the report to this file instead of stdout")
	fs.BoolVar(&f.summary, "summary", false, "also print one line per layer (verdict, counts, the checks that did not hold) on stderr, for CI logs")
	fs.StringVar(&f.doneFile, "done-file", "", "once the report is in --output-file, write that file's path here (Sonobuoy's plugin protocol: /tmp/sonobuoy/results/done)")
	fs.BoolVar(&f.keep, "keep", false, "leave the run's namespaces in place for inspection (remove later with 'tenantcheck cleanup')")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up on the run after this long (cleanup still runs)")
	fs.DurationVar(&f.cleanupTO, "cleanup-timeout", 3*time.Minute, "how long cleanup waits for the run's namespaces to go (finalizers can hold them); a finding is never lost to it")
	fs.StringVar(&f.image, "probe-image", envOr("TENANTCHECK_PROBE_IMAGE", "ghcr.io/tenantcheck/tenantcheck-probe:"+Version), "probe agent image [TENANTCHECK_PROBE_IMAGE]")
	fs.StringVar(&f.pull, "image-pull-policy", envOr("TENANTCHECK_IMAGE_PULL_POLICY", "IfNotPresent"), "probe image pull policy: Always, IfNotPresent, Never [TENANTCHECK_IMAGE_PULL_POLICY]")
	fs.DurationVar(&f.probeTO, "probe-timeout", time.Second, "timeout of one probe; a silent path counts as blocked after it")
	fs.StringVar(&f.domain, "cluster-domain", "cluster.local", "the cluster's DNS domain")
	fs.StringVar(&f.pairs, "pairs", "auto", fmt.Sprintf("ordered tenant pairs the cross-tenant checks probe live: all, ring (each tenant and its two neighbours by name), sample=K[:SEED] (K others per tenant; the seed is printed to repeat it); auto: all up to %d tenants, ring above", network.AllPairsUpTo))
	f.inCluster.register(fs)
	f.exports.register(fs, mode)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := f.inCluster.validate(); err != nil {
		return nil, err
	}
	plan, err := network.ParsePairs(f.pairs)
	if err != nil {
		return nil, err
	}
	if plan.Strategy == "sample" {
		f.pairs = plan.String("sample") // the seed drawn once, printed and reported
	}
	if f.fluxLive && f.noPods {
		return nil, fmt.Errorf("--flux-live needs an artifact-server pod: drop --no-pods or --flux-live")
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%s takes no arguments, got %q", name, strings.Join(fs.Args(), " "))
	}
	if len(f.namespaces) > 0 && f.specFile != "" {
		return nil, fmt.Errorf("-n and --spec both name the namespaces to audit: give one")
	}
	if f.doneFile != "" && f.outputFile == "" {
		return nil, fmt.Errorf("--done-file names the report's file: give --output-file too")
	}
	if mode == model.ModeAudit && (f.maxShapes < 1 || f.maxShapes > network.MaxShapesCeiling) {
		return nil, fmt.Errorf("--max-shapes %d: want 1 to %d (exec is granted on that many mimic pods)", f.maxShapes, network.MaxShapesCeiling)
	}
	switch corev1.PullPolicy(f.pull) {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return nil, fmt.Errorf("--image-pull-policy %q: want Always, IfNotPresent or Never", f.pull)
	}
	return f, nil
}

// available are the layers this build can check, in run order: the one
// list in internal/layers.
var available = layers.IDs()

func layerNames(ls []model.Layer) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = string(l)
	}
	return out
}

func parseLayers(s string) ([]model.Layer, error) {
	var out []model.Layer
	for _, name := range strings.Split(s, ",") {
		l := model.Layer(strings.TrimSpace(name))
		if !slices.Contains(available, l) {
			return nil, fmt.Errorf("--layers: unknown or not yet available layer %q (available: %s)", l, strings.Join(layerNames(available), ", "))
		}
		out = append(out, l)
	}
	return out, nil
}
