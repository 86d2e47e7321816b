// kube is the test cluster's Kubernetes, and its etcd, in one program: every component compiled and linked once
// (they share most of their packages), chosen by the name it is called by (a link named kubelet, kube-apiserver,
// ...) or by its first argument (`kube kubelet --config ...`).
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	_ "time/tzdata" // CronJob time zones, as the API server and controller manager are built upstream

	"github.com/spf13/cobra"
	etcd "go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // kubectl's credential plugins
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // the version metric
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubeadm "k8s.io/kubernetes/cmd/kubeadm/app"
	kubeadmerrors "k8s.io/kubernetes/cmd/kubeadm/app/util/errors"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

// Each entry runs one component with os.Args as that component sees them (its name first) and exits.
var components = map[string]func(){
	"kube-apiserver":          func() { runCobra(apiserver.NewAPIServerCommand()) },
	"kube-controller-manager": func() { runCobra(controllermanager.NewControllerManagerCommand()) },
	"kube-scheduler":          func() { runCobra(scheduler.NewSchedulerCommand()) },
	"kubelet":                 func() { runCobra(kubelet.NewKubeletCommand(context.Background())) },
	"kube-proxy":              func() { runCobra(proxy.NewProxyCommand()) },
	"kubeadm":                 func() { kubeadmerrors.HandleError(kubeadm.Run()) },
	"kubectl":                 runKubectl,
	"etcd":                    func() { etcd.Main(os.Args) },
}

func runCobra(command *cobra.Command) {
	os.Exit(cli.Run(command))
}

func runKubectl() {
	// As upstream's kubectl: the verbosity is set before the command is built (plugins, .kuberc).
	logs.GlogSetter(kubectl.GetLogVerbosity(os.Args)) // nolint:errcheck
	if err := cli.RunNoErrOutput(kubectl.NewDefaultKubectlCommand()); err != nil {
		kubectlutil.CheckErr(err)
	}
}

func main() {
	if run, ok := components[filepath.Base(os.Args[0])]; ok {
		run()
		return
	}
	if len(os.Args) > 1 {
		if run, ok := components[os.Args[1]]; ok {
			// The component parses os.Args[1:] itself (cobra reads os.Args): drop our own name.
			os.Args = os.Args[1:]
			run()
			return
		}
	}
	names := make([]string, 0, len(components))
	for name := range components {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: %s COMPONENT [ARGS...], or call it through a link named after one\n"+
		"components: %s\n", filepath.Base(os.Args[0]), strings.Join(names, ", "))
	os.Exit(2)
}
