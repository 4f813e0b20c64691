package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

func containerdSock(c *config) string {
	return filepath.Join(c.RunDir, "containerd", "containerd.sock")
}

// writeConfigs writes the containerd, CNI, kubelet and kube-proxy
// configuration files into the state dir.
func writeConfigs(c *config) error {
	files := map[string]string{
		"containerd.toml":                   containerdConfig(c),
		"cni/net.d/10-tenantcheck.conflist": cniConfig(c),
		"kubelet.yaml":                      kubeletConfig(c),
		"kube-proxy.yaml":                   kubeProxyConfig(c),
	}
	for name, content := range files {
		p := filepath.Join(c.StateDir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// containerdConfig: restrict_oom_score_adj is required here (root lacks
// CAP_SYS_RESOURCE, and without it every sandbox fails in runc); network
// namespaces live under the state dir so teardown finds them.
func containerdConfig(c *config) string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(c.StateDir, "containerd"), filepath.Join(c.RunDir, "containerd"), containerdSock(c),
		pauseImage, filepath.Join(c.StateDir, "cni", "net.d"), filepath.Join(c.StateDir, "containerd", "opt"))
}

// cniConfig: one bridge with host-local addresses. No IP masquerade: pods
// reach each other, services and the node, and nothing beyond the machine.
func cniConfig(c *config) string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "tenantcheck",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": %q}, {"dst": %q}],
        "dataDir": %q
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, podCIDR, clusterCIDR, serviceCIDR, filepath.Join(c.StateDir, "cni", "ipam"))
}

func kubeletConfig(c *config) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
clusterDomain: %s
clusterDNS: [%s]
containerRuntimeEndpoint: unix://%s
resolvConf: ""
podCIDR: %s
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
serializeImagePulls: false
maxPods: 250
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: 100Mi, nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
`, c.pki("ca.crt"), clusterDomain, dnsServiceIP, containerdSock(c), podCIDR)
}

// kubeProxyConfig leaves conntrack sysctls and route_localnet alone, so
// there is less of the host to restore at teardown.
func kubeProxyConfig(c *config) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %q}
hostnameOverride: %s
mode: iptables
clusterCIDR: %s
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
`, filepath.Join(c.StateDir, "kube-proxy.kubeconfig"), nodeName, clusterCIDR)
}

// The daemons of the cluster, in start order.
func etcdDaemon(c *config, b binaries) daemon {
	peer := "http://127.0.0.1:2380"
	client := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	return daemon{Name: "etcd", Bin: b.Etcd, Args: []string{
		"--name=tenantcheck", "--data-dir=" + filepath.Join(c.StateDir, "etcd"),
		"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=tenantcheck=" + peer, "--unsafe-no-fsync", "--log-level=warn",
	}}
}

func apiserverDaemon(c *config, b binaries, nodeIP string) daemon {
	plugins := []string{"NamespaceLifecycle", "LimitRanger", "ServiceAccount", "ResourceQuota", "NodeRestriction"}
	args := []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(etcdPort),
		"--bind-address=0.0.0.0", "--secure-port=" + strconv.Itoa(apiPort), "--advertise-address=" + nodeIP,
		"--tls-cert-file=" + c.pki("apiserver.crt"), "--tls-private-key-file=" + c.pki("apiserver.key"),
		"--client-ca-file=" + c.pki("ca.crt"),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc." + clusterDomain,
		"--service-account-key-file=" + c.pki("sa.pub"), "--service-account-signing-key-file=" + c.pki("sa.key"),
		"--authorization-mode=Node,RBAC",
		"--kubelet-client-certificate=" + c.pki("apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + c.pki("apiserver-kubelet-client.key"),
		"--allow-privileged=true", "--profiling=false",
		// Reach the kubelet by its IP: the node name resolves nowhere.
		"--kubelet-preferred-address-types=InternalIP",
	}
	if c.NoPSA {
		args = append(args, "--disable-admission-plugins=PodSecurity")
	} else {
		plugins = append(plugins, "PodSecurity")
	}
	args = append(args, "--enable-admission-plugins="+strings.Join(plugins, ","))
	return daemon{Name: "kube-apiserver", Bin: b.k8s("kube-apiserver"), Args: args}
}

func controllerManagerDaemon(c *config, b binaries) daemon {
	kc := filepath.Join(c.StateDir, "controller-manager.kubeconfig")
	return daemon{Name: "kube-controller-manager", Bin: b.k8s("kube-controller-manager"), Args: []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--service-account-private-key-file=" + c.pki("sa.key"), "--root-ca-file=" + c.pki("ca.crt"),
		"--cluster-signing-cert-file=" + c.pki("ca.crt"), "--cluster-signing-key-file=" + c.pki("ca.key"),
		"--use-service-account-credentials=true", "--leader-elect=false", "--bind-address=127.0.0.1",
		"--kube-api-qps=200", "--kube-api-burst=400", "--concurrent-namespace-syncs=25",
	}}
}

func schedulerDaemon(c *config, b binaries) daemon {
	kc := filepath.Join(c.StateDir, "scheduler.kubeconfig")
	return daemon{Name: "kube-scheduler", Bin: b.k8s("kube-scheduler"), Args: []string{
		"--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc, "--authorization-kubeconfig=" + kc,
		"--leader-elect=false", "--bind-address=127.0.0.1",
	}}
}

func containerdDaemon(c *config) daemon {
	return daemon{Name: "containerd", Bin: "/usr/bin/containerd", Args: []string{
		"--config=" + filepath.Join(c.StateDir, "containerd.toml"), "--log-level=warn",
	}}
}

func kubeletDaemon(c *config, b binaries, nodeIP string) daemon {
	return daemon{Name: "kubelet", Bin: b.k8s("kubelet"), Args: []string{
		"--config=" + filepath.Join(c.StateDir, "kubelet.yaml"),
		"--kubeconfig=" + filepath.Join(c.StateDir, "kubelet.kubeconfig"),
		"--hostname-override=" + nodeName, "--node-ip=" + nodeIP,
		"--root-dir=" + filepath.Join(c.StateDir, "kubelet"),
		"--cert-dir=" + filepath.Join(c.StateDir, "kubelet", "pki"),
	}}
}

func kubeProxyDaemon(c *config, b binaries) daemon {
	return daemon{Name: "kube-proxy", Bin: b.k8s("kube-proxy"), Args: []string{
		"--config=" + filepath.Join(c.StateDir, "kube-proxy.yaml"),
	}}
}

// kubeRouterDaemon runs kube-router as a NetworkPolicy firewall only: no
// routing, no service proxy, no CNI.
func kubeRouterDaemon(c *config, b binaries) daemon {
	return daemon{Name: "kube-router", Bin: b.KubeRouter, Args: []string{
		"--kubeconfig=" + filepath.Join(c.StateDir, "kube-router.kubeconfig"),
		"--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--enable-cni=false",
		"--hostname-override=" + nodeName, "--metrics-port=0", "--health-port=0",
	}, Env: []string{"NODE_NAME=" + nodeName}}
}
