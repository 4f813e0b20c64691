package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// kubectl runs the cluster's own kubectl as admin, with stdin when given.
func kubectl(ctx context.Context, c *config, b binaries, stdin string, args ...string) (string, error) {
	args = append([]string{"--kubeconfig", c.kubeconfig()}, args...)
	cmd := exec.CommandContext(ctx, b.k8s("kubectl"), args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args[2:], " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// corednsManifests: CoreDNS as a Deployment behind the kube-dns Service, with
// the labels the guide's DNS policy selects. It serves only the cluster's own
// zones and forwards nothing: no query ever leaves the cluster.
const corednsManifests = `apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
        }
        cache 30
    }
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      containers:
      - name: coredns
        image: IMAGE
        imagePullPolicy: Never
        args: ["-conf", "/etc/coredns/Corefile"]
        ports:
        - {name: dns, containerPort: 53, protocol: UDP}
        - {name: dns-tcp, containerPort: 53, protocol: TCP}
        readinessProbe:
          httpGet: {path: /ready, port: 8181}
          periodSeconds: 1
        volumeMounts: [{name: config, mountPath: /etc/coredns}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  clusterIP: CLUSTERIP
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
`

func deployDNS(ctx context.Context, c *config, b binaries, s *steps) error {
	m := strings.NewReplacer("IMAGE", corednsImage, "CLUSTERIP", dnsServiceIP).Replace(corednsManifests)
	// The ServiceAccount admission needs kube-system's default account first.
	if err := poll(ctx, 250*time.Millisecond, 60*time.Second, "kube-system service account", func(ctx context.Context) (bool, error) {
		_, err := kubectl(ctx, c, b, "", "-n", "kube-system", "get", "serviceaccount", "default")
		return err == nil, err
	}); err != nil {
		return err
	}
	if _, err := kubectl(ctx, c, b, m, "apply", "-f", "-"); err != nil {
		return fmt.Errorf("deploy CoreDNS: %w", err)
	}
	if _, err := kubectl(ctx, c, b, "", "-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=120s"); err != nil {
		return fmt.Errorf("CoreDNS not ready: %w", err)
	}
	s.say("CoreDNS ready behind kube-dns (%s)", dnsServiceIP)
	return nil
}

// selfCheckManifests: two namespaces, a probe agent serving in one, another
// in the other. Both pods satisfy Pod Security "restricted".
const selfCheckPod = `apiVersion: v1
kind: Pod
metadata: {name: NAME, namespace: NS, labels: {app: selfcheck}}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 0
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: probe
    image: IMAGE
    imagePullPolicy: Never
    args: [serve]
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
    resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 100m, memory: 64Mi}}
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
`

const selfCheckPolicy = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: tc-selfcheck-server}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`

// selfCheck proves the cluster works end to end: DNS answers from a pod, a
// cross-namespace connect succeeds, and after a default-deny ingress policy
// it is blocked in the enforcing profile and still succeeds in the
// unenforced one.
func selfCheck(ctx context.Context, c *config, b binaries, s *steps) error {
	defer func() {
		_, _ = kubectl(context.Background(), c, b, "", "delete", "namespace", "tc-selfcheck-server", "tc-selfcheck-client", "--ignore-not-found", "--wait=true", "--timeout=60s")
	}()
	var nsDocs, podDocs []string
	for _, p := range [][2]string{{"server", "tc-selfcheck-server"}, {"client", "tc-selfcheck-client"}} {
		nsDocs = append(nsDocs, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+p[1]+"}\n")
		podDocs = append(podDocs, strings.NewReplacer("NAME", p[0], "NS", p[1], "IMAGE", probeImage).Replace(selfCheckPod))
	}
	if _, err := kubectl(ctx, c, b, strings.Join(nsDocs, "---\n"), "apply", "-f", "-"); err != nil {
		return fmt.Errorf("self-check namespaces: %w", err)
	}
	if err := waitDefaultSA(ctx, c, b, "tc-selfcheck-server", "tc-selfcheck-client"); err != nil {
		return err
	}
	if _, err := kubectl(ctx, c, b, strings.Join(podDocs, "---\n"), "apply", "-f", "-"); err != nil {
		return fmt.Errorf("self-check pods: %w", err)
	}
	for _, p := range [][2]string{{"server", "tc-selfcheck-server"}, {"client", "tc-selfcheck-client"}} {
		if _, err := kubectl(ctx, c, b, "", "-n", p[1], "wait", "pod/"+p[0], "--for=condition=Ready", "--timeout=90s"); err != nil {
			return fmt.Errorf("self-check pod %s/%s not Ready: %w", p[1], p[0], err)
		}
	}
	ip, err := kubectl(ctx, c, b, "", "-n", "tc-selfcheck-server", "get", "pod", "server", "-o", "jsonpath={.status.podIP}")
	if err != nil {
		return err
	}
	probe := func(args ...string) (string, error) {
		out, err := kubectl(ctx, c, b, "", append([]string{"-n", "tc-selfcheck-client", "exec", "client", "--", "/tenantcheck-probe", "connect"}, args...)...)
		var r struct{ Outcome string }
		if jerr := json.Unmarshal([]byte(out), &r); jerr != nil {
			return "", fmt.Errorf("probe gave no result: %v (%v)", err, jerr)
		}
		return r.Outcome, nil
	}
	if o, err := probe("--host", "kube-dns.kube-system.svc.cluster.local", "--port", "53", "--protocol", "udp", "--mode", "dns"); err != nil || o != "connected" {
		return fmt.Errorf("self-check: DNS from a pod: %s %v", o, err)
	}
	if o, err := probe("--host", ip, "--port", "8080"); err != nil || o != "connected" {
		return fmt.Errorf("self-check: cross-namespace connect before any policy: %s %v", o, err)
	}
	s.say("self-check: pod DNS answers; cross-namespace TCP connects")
	if _, err := kubectl(ctx, c, b, selfCheckPolicy, "apply", "-f", "-"); err != nil {
		return err
	}
	applied := time.Now()
	if c.Profile == profileUnenforced {
		time.Sleep(2 * time.Second) // give an enforcer, were there one, ample time
		if o, err := probe("--host", ip, "--port", "8080"); err != nil || o != "connected" {
			return fmt.Errorf("self-check: unenforced profile, yet default-deny blocked the connect (%s %v)", o, err)
		}
		s.say("self-check: default-deny ingress is NOT enforced (profile unenforced, as asked)")
		return nil
	}
	want := deniedOutcome(c)
	var last string
	err = poll(ctx, 100*time.Millisecond, 30*time.Second, "default-deny enforcement", func(context.Context) (bool, error) {
		o, err := probe("--host", ip, "--port", "8080", "--timeout", "500ms")
		last = o
		return err == nil && o == want, err
	})
	if err != nil {
		return fmt.Errorf("self-check: default-deny ingress did not make a cross-namespace connect %s (DENY=%s; last: %s): %w", want, c.Deny, last, err)
	}
	s.say("self-check: default-deny ingress blocks cross-namespace TCP: %s (enforced %.1fs after apply)", want, time.Since(applied).Seconds())
	return nil
}

func waitDefaultSA(ctx context.Context, c *config, b binaries, namespaces ...string) error {
	for _, ns := range namespaces {
		err := poll(ctx, 200*time.Millisecond, 30*time.Second, "service account default in "+ns, func(ctx context.Context) (bool, error) {
			_, err := kubectl(ctx, c, b, "", "-n", ns, "get", "serviceaccount", "default")
			return err == nil, err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// status prints what runs and where the kubeconfig is.
func status(ctx context.Context, c *config) error {
	st, ok := readState(c)
	if !ok {
		fmt.Println("no cluster (state dir", c.StateDir+")")
		return nil
	}
	fmt.Printf("Kubernetes %s, profile %s, PodSecurity admission %v, node IP %s\n", st.K8sVersion, st.Profile, !st.NoPSA, st.NodeIP)
	for _, d := range append([]struct{ name, bin string }{{"containerd", "containerd"}}, stopOrder...) {
		pid, ok := runningPid(c, d.name, d.bin)
		state := "stopped"
		if ok {
			state = fmt.Sprintf("running (pid %d)", pid)
		}
		fmt.Printf("  %-24s %s\n", d.name, state)
	}
	if err := apiReady(ctx, c); err != nil {
		fmt.Printf("API server: not ready: %v\n", err)
	} else {
		fmt.Println("API server: ready")
	}
	fmt.Println("kubeconfig:", c.kubeconfig())
	_ = os.Stdout.Sync()
	return nil
}
