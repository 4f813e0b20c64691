package probes

import (
	"bufio"
	"io"
	"os"
	"strings"
)

// ResolvConf is what a pod's /etc/resolv.conf says: the resolvers it asks
// and the search list the kubelet wrote, whose "svc.<domain>" entry names
// the cluster's DNS domain.
type ResolvConf struct {
	Nameservers []string `json:"nameservers"`
	Search      []string `json:"search"`
}

// ReadResolvConf reads /etc/resolv.conf.
func ReadResolvConf() (ResolvConf, error) {
	f, err := os.Open("/etc/resolv.conf")
	if err != nil {
		return ResolvConf{}, err
	}
	defer f.Close()
	return ParseResolvConf(f), nil
}

// ParseResolvConf parses resolv.conf text; unknown lines are ignored.
func ParseResolvConf(r io.Reader) ResolvConf {
	var rc ResolvConf
	s := bufio.NewScanner(r)
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			rc.Nameservers = append(rc.Nameservers, f[1])
		case "search":
			rc.Search = append(rc.Search[:0], f[1:]...)
		}
	}
	return rc
}

// ClusterDomain is the domain of the search list's "svc.<domain>" entry,
// and "" when there is none.
func (rc ResolvConf) ClusterDomain() string {
	for _, s := range rc.Search {
		if d, ok := strings.CutPrefix(strings.TrimSuffix(s, "."), "svc."); ok && d != "" {
			return d
		}
	}
	return ""
}
