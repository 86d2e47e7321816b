// coredns for the kind node image: CoreDNS with the plugins of the Corefile that kubeadm writes (errors, health,
// ready, kubernetes, prometheus, forward, cache, loop, reload, loadbalance) and no others, so the build leaves out
// the clouds' SDKs that CoreDNS's full plugin set pulls in.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func init() {
	// The order in which a query passes the plugins: CoreDNS's own (plugin.cfg), reduced to these.
	dnsserver.Directives = []string{"reload", "ready", "health", "prometheus", "errors", "loadbalance", "cache",
		"kubernetes", "loop", "forward"}
}

func main() {
	coremain.Run()
}
