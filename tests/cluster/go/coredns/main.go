// coredns is the test cluster's DNS: CoreDNS with only the plugins its Corefile uses (cluster.py writes it), so
// that the build compiles the Kubernetes plugin and not the clouds' SDKs that CoreDNS's full plugin set pulls in.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/template"
)

func init() {
	// The order in which a query passes the plugins, as in CoreDNS's own list (plugin.cfg), reduced to these.
	dnsserver.Directives = []string{"bind", "errors", "log", "template", "kubernetes"}
}

func main() {
	coremain.Run()
}
