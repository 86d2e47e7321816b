// coredns is the DNS of the test cluster and of the kind node image: CoreDNS with only the plugins their Corefiles
// use (the test cluster's, which cluster.py writes, and the one kubeadm writes on a kind node), so that the build
// compiles the Kubernetes plugin and not the clouds' SDKs that CoreDNS's full plugin set pulls in. One build
// serves both (tests/cluster/build.sh; tests/kind/build.sh copies it).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/template"
)

func init() {
	// The order in which a query passes the plugins, as in CoreDNS's own list (plugin.cfg), reduced to these.
	dnsserver.Directives = []string{"reload", "bind", "ready", "health", "prometheus", "errors", "log",
		"loadbalance", "cache", "template", "kubernetes", "loop", "forward"}
}

func main() {
	coremain.Run()
}
