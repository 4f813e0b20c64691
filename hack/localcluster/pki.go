package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// identity is one client of the API server: its certificate subject and the
// kubeconfig written for it.
type identity struct {
	name   string // file stem
	cn     string
	groups []string
}

var identities = []identity{
	{"admin", "kubernetes-admin", []string{"system:masters"}},
	{"controller-manager", "system:kube-controller-manager", nil},
	{"scheduler", "system:kube-scheduler", nil},
	{"kubelet", "system:node:" + nodeName, []string{"system:nodes"}},
	{"kube-proxy", "system:kube-proxy", nil},
	// kube-router is a test-only NetworkPolicy enforcer; it gets admin rights.
	{"kube-router", "kube-router", []string{"system:masters"}},
	{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}},
}

// writePKI creates a fresh CA, the API server's serving certificate, one client
// certificate and kubeconfig per identity, and the service-account key pair.
func writePKI(c *config, nodeIP net.IP) error {
	dir := c.pki("")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tenantcheck-local-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	if err := writeCertKey(dir, "ca", caDER, caKey); err != nil {
		return err
	}
	serving := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc." + clusterDomain, "localhost", nodeName},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(apiServiceIP), nodeIP},
	}
	if err := issue(dir, "apiserver", serving, ca, caKey); err != nil {
		return err
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	for _, id := range identities {
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: id.cn, Organization: id.groups},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if err := issue(dir, id.name, tmpl, ca, caKey); err != nil {
			return err
		}
		if err := writeKubeconfig(c, id.name, caPEM); err != nil {
			return err
		}
	}
	return writeServiceAccountKey(dir)
}

var serial int64 = 1

func issue(dir, name string, tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().AddDate(1, 0, 0)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("issue certificate %s: %w", name, err)
	}
	return writeCertKey(dir, name, der, key)
}

func writeCertKey(dir, name string, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	k := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	return errors.Join(
		os.WriteFile(filepath.Join(dir, name+".crt"), crt, 0o644),
		os.WriteFile(filepath.Join(dir, name+".key"), k, 0o600))
}

func writeServiceAccountKey(dir string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	return errors.Join(
		os.WriteFile(filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600),
		os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644))
}

// writeKubeconfig writes <state>/<name>.kubeconfig with the identity's
// credentials embedded, so the file can be copied elsewhere and still work.
func writeKubeconfig(c *config, name string, caPEM []byte) error {
	crt, err := os.ReadFile(c.pki(name + ".crt"))
	if err != nil {
		return err
	}
	key, err := os.ReadFile(c.pki(name + ".key"))
	if err != nil {
		return err
	}
	enc := base64.StdEncoding.EncodeToString
	kc := strings.Join([]string{
		"apiVersion: v1",
		"kind: Config",
		"clusters:",
		"- name: tenantcheck-local",
		"  cluster:",
		fmt.Sprintf("    server: https://127.0.0.1:%d", apiPort),
		"    certificate-authority-data: " + enc(caPEM),
		"users:",
		"- name: " + name,
		"  user:",
		"    client-certificate-data: " + enc(crt),
		"    client-key-data: " + enc(key),
		"contexts:",
		"- name: tenantcheck-local",
		"  context:",
		"    cluster: tenantcheck-local",
		"    user: " + name,
		"current-context: tenantcheck-local",
		""}, "\n")
	return os.WriteFile(filepath.Join(c.StateDir, name+".kubeconfig"), []byte(kc), 0o600)
}

// hostIP returns the host's primary IPv4 address: the node's address, which
// the API server advertises to pods through the kubernetes Service.
func hostIP() (net.IP, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 ||
			ifc.Name == "cni0" || strings.HasPrefix(ifc.Name, "veth") || strings.HasPrefix(ifc.Name, "kube") {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				return ipn.IP.To4(), nil
			}
		}
	}
	return nil, errors.New("no IPv4 address on any interface: the node needs one to advertise the API server")
}
