package deploy

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

const (
	namespace   = "logrouter"
	vectorYAML  = "../vector/vector.yaml"
	irsaKey     = "eks.amazonaws.com/role-arn"
	placeholder = "set-in-an-overlay"
	// The Secrets are created out of band (deploy/README.md); they are the only objects referenced but not built.
	apiKeysSecret    = "logrouter-api-keys"
	replayKeysSecret = "logrouter-replay-keys"
)

var (
	roleARN = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]+$`)
	// otherEnv are environment variables a logrouter container may carry that are not logrouter flags.
	otherEnv = []string{"AWS_REGION", "GOMEMLIMIT"}
)

// Models of the CRD fields these manifests use (KEDA, prometheus-operator). Decoding is strict, so a misspelt or
// misplaced field fails here as it would against the CRD's schema.
type scaledObject struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion,omitempty"`
			Kind       string `json:"kind,omitempty"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`
		PollingInterval *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod  *int32 `json:"cooldownPeriod,omitempty"`
		Triggers        []struct {
			Type              string `json:"type"`
			Name              string `json:"name,omitempty"`
			AuthenticationRef *struct {
				Name string `json:"name"`
				Kind string `json:"kind,omitempty"`
			} `json:"authenticationRef,omitempty"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

type triggerAuthentication struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		PodIdentity *struct {
			Provider      string `json:"provider"`
			IdentityOwner string `json:"identityOwner,omitempty"`
			RoleArn       string `json:"roleArn,omitempty"`
		} `json:"podIdentity,omitempty"`
	} `json:"spec"`
}

type serviceMonitor struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path,omitempty"`
			Interval string `json:"interval,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

type podMonitor struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Selector            metav1.LabelSelector `json:"selector"`
		PodMetricsEndpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path,omitempty"`
			Interval string `json:"interval,omitempty"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

type prometheusRule struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Groups []struct {
			Name     string `json:"name"`
			Interval string `json:"interval,omitempty"`
			Rules    []struct {
				Alert       string            `json:"alert,omitempty"`
				Record      string            `json:"record,omitempty"`
				Expr        string            `json:"expr"`
				For         string            `json:"for,omitempty"`
				Labels      map[string]string `json:"labels,omitempty"`
				Annotations map[string]string `json:"annotations,omitempty"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// objects is one kustomization's output, decoded.
type objects struct {
	dir             string
	namespaces      []*corev1.Namespace
	serviceAccounts map[string]*corev1.ServiceAccount
	configMaps      map[string]*corev1.ConfigMap
	services        map[string]*corev1.Service
	deployments     map[string]*appsv1.Deployment
	daemonSets      map[string]*appsv1.DaemonSet
	pdbs            map[string]*policyv1.PodDisruptionBudget
	clusterRoles    map[string]*rbacv1.ClusterRole
	bindings        map[string]*rbacv1.ClusterRoleBinding
	scaledObjects   map[string]*scaledObject
	triggerAuths    map[string]*triggerAuthentication
	serviceMonitors map[string]*serviceMonitor
	podMonitors     map[string]*podMonitor
	rules           map[string]*prometheusRule
	raw             []byte // the whole output, for text checks
}

func build(t *testing.T, dir string) *objects {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	o := &objects{dir: dir, serviceAccounts: map[string]*corev1.ServiceAccount{}, configMaps: map[string]*corev1.ConfigMap{},
		services: map[string]*corev1.Service{}, deployments: map[string]*appsv1.Deployment{}, daemonSets: map[string]*appsv1.DaemonSet{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, clusterRoles: map[string]*rbacv1.ClusterRole{},
		bindings: map[string]*rbacv1.ClusterRoleBinding{}, scaledObjects: map[string]*scaledObject{},
		triggerAuths: map[string]*triggerAuthentication{}, serviceMonitors: map[string]*serviceMonitor{},
		podMonitors: map[string]*podMonitor{}, rules: map[string]*prometheusRule{}}
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		o.raw = append(append(o.raw, y...), "\n---\n"...)
		gvk := r.GetApiVersion() + "/" + r.GetKind()
		name := r.GetName()
		var target any
		switch gvk {
		case "v1/Namespace":
			ns := &corev1.Namespace{}
			o.namespaces, target = append(o.namespaces, ns), ns
		case "v1/ServiceAccount":
			o.serviceAccounts[name] = &corev1.ServiceAccount{}
			target = o.serviceAccounts[name]
		case "v1/ConfigMap":
			o.configMaps[name] = &corev1.ConfigMap{}
			target = o.configMaps[name]
		case "v1/Service":
			o.services[name] = &corev1.Service{}
			target = o.services[name]
		case "apps/v1/Deployment":
			o.deployments[name] = &appsv1.Deployment{}
			target = o.deployments[name]
		case "apps/v1/DaemonSet":
			o.daemonSets[name] = &appsv1.DaemonSet{}
			target = o.daemonSets[name]
		case "policy/v1/PodDisruptionBudget":
			o.pdbs[name] = &policyv1.PodDisruptionBudget{}
			target = o.pdbs[name]
		case "rbac.authorization.k8s.io/v1/ClusterRole":
			o.clusterRoles[name] = &rbacv1.ClusterRole{}
			target = o.clusterRoles[name]
		case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
			o.bindings[name] = &rbacv1.ClusterRoleBinding{}
			target = o.bindings[name]
		case "keda.sh/v1alpha1/ScaledObject":
			o.scaledObjects[name] = &scaledObject{}
			target = o.scaledObjects[name]
		case "keda.sh/v1alpha1/TriggerAuthentication":
			o.triggerAuths[name] = &triggerAuthentication{}
			target = o.triggerAuths[name]
		case "monitoring.coreos.com/v1/ServiceMonitor":
			o.serviceMonitors[name] = &serviceMonitor{}
			target = o.serviceMonitors[name]
		case "monitoring.coreos.com/v1/PodMonitor":
			o.podMonitors[name] = &podMonitor{}
			target = o.podMonitors[name]
		case "monitoring.coreos.com/v1/PrometheusRule":
			o.rules[name] = &prometheusRule{}
			target = o.rules[name]
		default:
			t.Errorf("%s: %s %s has no validation here; add its type to the test", dir, gvk, name)
			continue
		}
		if err := sigsyaml.UnmarshalStrict(y, target); err != nil {
			t.Errorf("%s: %s %s does not decode strictly: %v", dir, gvk, name, err)
		}
		if ns := r.GetNamespace(); r.GetKind() != "Namespace" && !strings.HasPrefix(r.GetKind(), "Cluster") && ns != namespace {
			t.Errorf("%s: %s %s is in namespace %q, want %q", dir, r.GetKind(), name, ns, namespace)
		}
	}
	return o
}

var kustomizations = []string{"kubernetes/base", "kubernetes/overlays/example"}

func TestKustomizationsBuildAndDecodeStrictly(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			o := build(t, dir)
			if len(o.namespaces) != 1 || o.namespaces[0].Name != namespace {
				t.Errorf("want exactly the Namespace %q", namespace)
			}
			want := map[string]int{"Deployment": 2, "DaemonSet": 1, "ScaledObject": 1, "ServiceMonitor": 2, "PodDisruptionBudget": 2, "PodMonitor": 1}
			got := map[string]int{"Deployment": len(o.deployments), "DaemonSet": len(o.daemonSets), "ScaledObject": len(o.scaledObjects),
				"ServiceMonitor": len(o.serviceMonitors), "PodDisruptionBudget": len(o.pdbs), "PodMonitor": len(o.podMonitors)}
			for k, n := range want {
				if got[k] != n {
					t.Errorf("%d %s objects, want %d", got[k], k, n)
				}
			}
		})
	}
}

// podSpecs returns every workload's pod template by "Kind/name".
func (o *objects) podSpecs() map[string]*corev1.PodTemplateSpec {
	out := map[string]*corev1.PodTemplateSpec{}
	for n, d := range o.deployments {
		out["Deployment/"+n] = &d.Spec.Template
	}
	for n, d := range o.daemonSets {
		out["DaemonSet/"+n] = &d.Spec.Template
	}
	return out
}

func TestWorkloadsAreWired(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			o := build(t, dir)
			selectors := map[string]*metav1.LabelSelector{}
			for n, d := range o.deployments {
				selectors["Deployment/"+n] = d.Spec.Selector
			}
			for n, d := range o.daemonSets {
				selectors["DaemonSet/"+n] = d.Spec.Selector
			}
			for name, pod := range o.podSpecs() {
				sel, err := metav1.LabelSelectorAsSelector(selectors[name])
				if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
					t.Errorf("%s: selector %v does not select its own pods (%v)", name, selectors[name], err)
				}
				sa, ok := o.serviceAccounts[pod.Spec.ServiceAccountName]
				if !ok {
					t.Errorf("%s: service account %q is not defined", name, pod.Spec.ServiceAccountName)
				} else if arn := sa.Annotations[irsaKey]; !roleARN.MatchString(arn) {
					t.Errorf("%s: service account %s has IRSA annotation %q, not a role ARN", name, sa.Name, arn)
				}
				for _, v := range pod.Spec.Volumes {
					switch {
					case v.ConfigMap != nil && o.configMaps[v.ConfigMap.Name] == nil:
						t.Errorf("%s: volume %s uses ConfigMap %q, which is not built", name, v.Name, v.ConfigMap.Name)
					case v.Secret != nil && v.Secret.SecretName != apiKeysSecret && v.Secret.SecretName != replayKeysSecret:
						t.Errorf("%s: volume %s uses Secret %q, which is neither built nor documented", name, v.Name, v.Secret.SecretName)
					}
				}
				for _, c := range pod.Spec.Containers {
					checkContainer(t, o, name, pod, c)
				}
			}
			for n, s := range o.services {
				pod := selectedPod(o, s.Spec.Selector)
				if pod == nil {
					t.Errorf("Service %s selects no workload's pods", n)
					continue
				}
				for _, p := range s.Spec.Ports {
					if p.TargetPort.StrVal != "" && findPort(pod.Spec.Containers, p.TargetPort.StrVal) == nil {
						t.Errorf("Service %s port %s targets %q, which the pods do not expose", n, p.Name, p.TargetPort.StrVal)
					}
				}
			}
			for n, p := range o.pdbs {
				pod := selectedPod(o, p.Spec.Selector.MatchLabels)
				if pod == nil {
					t.Errorf("PodDisruptionBudget %s selects no workload's pods", n)
				}
				if p.Spec.MinAvailable == nil || p.Spec.MinAvailable.IntValue() < 1 {
					t.Errorf("PodDisruptionBudget %s: minAvailable %v, want ≥ 1", n, p.Spec.MinAvailable)
				}
			}
		})
	}
}

func selectedPod(o *objects, sel map[string]string) *corev1.PodTemplateSpec {
	if len(sel) == 0 {
		return nil
	}
	for _, pod := range o.podSpecs() {
		if labels.SelectorFromSet(sel).Matches(labels.Set(pod.Labels)) {
			return pod
		}
	}
	return nil
}

func findPort(cs []corev1.Container, name string) *corev1.ContainerPort {
	for _, c := range cs {
		for i := range c.Ports {
			if c.Ports[i].Name == name {
				return &c.Ports[i]
			}
		}
	}
	return nil
}

// checkContainer checks what every container needs: probes on declared ports, envFrom sources that exist,
// resources, and a hardened security context.
func checkContainer(t *testing.T, o *objects, workload string, pod *corev1.PodTemplateSpec, c corev1.Container) {
	t.Helper()
	for kind, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s/%s: no HTTP %s probe", workload, c.Name, kind)
			continue
		}
		if port := p.HTTPGet.Port; port.StrVal == "" || findPort([]corev1.Container{c}, port.StrVal) == nil {
			t.Errorf("%s/%s: %s probe port %v is not a named port of the container", workload, c.Name, kind, port.String())
		}
	}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil || o.configMaps[ef.ConfigMapRef.Name] == nil {
			t.Errorf("%s/%s: envFrom %+v does not name a built ConfigMap", workload, c.Name, ef)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s/%s: wants CPU and memory requests and a memory limit, has %+v", workload, c.Name, c.Resources)
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil ||
		!*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("%s/%s: security context must forbid privilege escalation, make / read-only and drop ALL capabilities", workload, c.Name)
	}
	for _, vm := range c.VolumeMounts {
		if !slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name }) {
			t.Errorf("%s/%s: mounts undefined volume %s", workload, c.Name, vm.Name)
		}
	}
}

// env returns a container's environment: direct values, and each envFrom ConfigMap's data. Values that come from
// the downward API are "(fieldRef)" / "(resourceFieldRef)".
func (o *objects) env(c corev1.Container) map[string]string {
	out := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil && o.configMaps[ef.ConfigMapRef.Name] != nil {
			for k, v := range o.configMaps[ef.ConfigMapRef.Name].Data {
				out[ef.Prefix+k] = v
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			out[e.Name] = "(fieldRef)"
		case e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil:
			out[e.Name] = "(resourceFieldRef)"
		default:
			out[e.Name] = e.Value
		}
	}
	return out
}

func addrPort(t *testing.T, what, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s = %q: %v", what, addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%s = %q: port %v", what, addr, err)
	}
	return int32(n)
}

// logrouterCommands maps each logrouter Deployment to the subcommand it runs and the settings it cannot run
// without.
var logrouterCommands = map[string]struct {
	command  string
	required []string
}{
	"logrouter-processor": {"poll", []string{"LOGROUTER_QUEUE_URL", "LOGROUTER_TENANT_TABLE", "LOGROUTER_CENTRAL_ROLE_ARN",
		"LOGROUTER_SOURCE_BUCKETS", "LOGROUTER_METRICS_ADDR", "AWS_REGION",
		// Without it a crashed pod's partial deliveries are repeated in full.
		"LOGROUTER_PROGRESS_TABLE", "LOGROUTER_SHUTDOWN_GRACE",
		// Without it every replay notification is dropped.
		"LOGROUTER_REPLAY_KEYS_FILE"}},
	"logrouter-api": {"api", []string{"LOGROUTER_API_ADDR", "LOGROUTER_TENANT_TABLE", "LOGROUTER_API_KEYS_FILE", "LOGROUTER_AUDIT_TABLE", "AWS_REGION",
		// Replay jobs run only with all four; with some of them the API refuses to start.
		"LOGROUTER_QUEUE_URL", "LOGROUTER_SOURCE_BUCKETS", "LOGROUTER_STATUS_TABLE", "LOGROUTER_REPLAY_KEYS_FILE"}},
}

var (
	helpOnce sync.Once
	helpDir  string
	helpBin  string
	helpErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if helpDir != "" {
		os.RemoveAll(helpDir)
	}
	os.Exit(code)
}

// logrouterHelp returns `logrouter help COMMAND` of the binary built from this repository.
func logrouterHelp(t *testing.T, command string) string {
	t.Helper()
	helpOnce.Do(func() {
		var err error
		if helpDir, err = os.MkdirTemp("", "logrouter-deploy-test"); err != nil {
			helpErr = err
			return
		}
		helpBin = filepath.Join(helpDir, "logrouter")
		cmd := exec.Command("go", "build", "-o", helpBin, "./cmd/logrouter")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			helpErr = fmt.Errorf("go build ./cmd/logrouter: %v\n%s", err, out)
		}
	})
	if helpErr != nil {
		t.Fatal(helpErr)
	}
	out, err := exec.Command(helpBin, "help", command).CombinedOutput()
	if err != nil {
		t.Fatalf("`logrouter help %s` failed (%v): the manifests run `logrouter %s`, which this binary does not "+
			"provide yet, so their settings cannot be checked against its flags:\n%s", command, err, command, out)
	}
	return string(out)
}

func TestLogrouterContainersMatchTheBinary(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			o := build(t, dir)
			images := map[string]bool{}
			for name, want := range logrouterCommands {
				d, ok := o.deployments[name]
				if !ok {
					t.Fatalf("Deployment %s is missing", name)
				}
				if len(d.Spec.Template.Spec.Containers) != 1 {
					t.Fatalf("%s: want one container", name)
				}
				c := d.Spec.Template.Spec.Containers[0]
				images[c.Image] = true
				if !regexp.MustCompile(`/logrouter:[\w.-]+$`).MatchString(c.Image) {
					t.Errorf("%s: image %q is not a tagged logrouter image", name, c.Image)
				}
				if len(c.Command) != 0 || len(c.Args) == 0 || c.Args[0] != want.command {
					t.Errorf("%s: command %v args %v, want the image's entrypoint with args [%s ...]", name, c.Command, c.Args, want.command)
				}
				help := logrouterHelp(t, want.command)
				env := o.env(c)
				for k := range env {
					if slices.Contains(otherEnv, k) {
						continue
					}
					if !strings.HasPrefix(k, "LOGROUTER_") || !regexp.MustCompile(`\b`+k+`\b`).MatchString(help) {
						t.Errorf("%s: environment variable %s is not a setting of `logrouter %s` (see `logrouter help %s`)", name, k, want.command, want.command)
					}
				}
				for _, k := range want.required {
					if env[k] == "" {
						t.Errorf("%s: required setting %s is not set", name, k)
					}
				}
				switch want.command {
				case "poll":
					checkPollPorts(t, name, c, env)
					grace, err := time.ParseDuration(env["LOGROUTER_SHUTDOWN_GRACE"])
					kill := d.Spec.Template.Spec.TerminationGracePeriodSeconds
					if err != nil || kill == nil || grace+10*time.Second > time.Duration(*kill)*time.Second {
						t.Errorf("%s: LOGROUTER_SHUTDOWN_GRACE %q must end at least 10s before terminationGracePeriodSeconds %v (%v)",
							name, env["LOGROUTER_SHUTDOWN_GRACE"], kill, err)
					}
				case "api":
					checkAPI(t, name, d, c, env)
				}
			}
			if len(images) != 1 {
				t.Errorf("the processor and the API run different images %v; they ship as one", images)
			}
			so := o.scaledObjects["logrouter-processor"]
			if so == nil {
				t.Fatal("ScaledObject logrouter-processor is missing")
			}
			checkScaledObject(t, o, so, o.env(o.deployments["logrouter-processor"].Spec.Template.Spec.Containers[0]))
			checkServiceMonitors(t, o)
			checkReplayWiring(t, o)
		})
	}
}

func checkPollPorts(t *testing.T, name string, c corev1.Container, env map[string]string) {
	t.Helper()
	port := addrPort(t, name+" LOGROUTER_METRICS_ADDR", env["LOGROUTER_METRICS_ADDR"])
	if host, _, _ := net.SplitHostPort(env["LOGROUTER_METRICS_ADDR"]); host != "" {
		t.Errorf("%s: LOGROUTER_METRICS_ADDR %q listens on one address only; probes and scrapes come from outside the pod", name, env["LOGROUTER_METRICS_ADDR"])
	}
	if p := findPort([]corev1.Container{c}, "metrics"); p == nil || p.ContainerPort != port {
		t.Errorf("%s: container port metrics = %v, want %d from LOGROUTER_METRICS_ADDR", name, p, port)
	}
	probes := map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe}
	for path, p := range probes {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.StrVal != "metrics" {
			t.Errorf("%s: want a probe on %s at port metrics, have %+v", name, path, p)
		}
	}
}

func checkAPI(t *testing.T, name string, d *appsv1.Deployment, c corev1.Container, env map[string]string) {
	t.Helper()
	port := addrPort(t, name+" LOGROUTER_API_ADDR", env["LOGROUTER_API_ADDR"])
	if p := findPort([]corev1.Container{c}, "http"); p == nil || p.ContainerPort != port {
		t.Errorf("%s: container port http = %v, want %d from LOGROUTER_API_ADDR", name, p, port)
	}
	// Both routes are unauthenticated: health is liveness only, ready fails while the tables cannot be read.
	for path, p := range map[string]*corev1.Probe{"/api/v1/health": c.LivenessProbe, "/api/v1/ready": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path {
			t.Errorf("%s: probe must use the unauthenticated %s, have %+v", name, path, p)
		}
	}
	if s := secretFile(t, name, d, c, env, "LOGROUTER_API_KEYS_FILE"); s != "" && s != apiKeysSecret {
		t.Errorf("%s: LOGROUTER_API_KEYS_FILE comes from Secret %q, want %s (deploy/README.md)", name, s, apiKeysSecret)
	}
}

// secretFile checks that the file the setting env names is an item of a Secret mounted read-only, readable by
// the pod's non-root user (through fsGroup) but not by others, and that the Secret is required (a missing Secret
// keeps the pod from starting, rather than starting it without the file). It returns the Secret's name.
func secretFile(t *testing.T, workload string, d *appsv1.Deployment, c corev1.Container, env map[string]string, setting string) string {
	t.Helper()
	path := env[setting]
	pod := d.Spec.Template.Spec
	secret := ""
	for _, vm := range c.VolumeMounts {
		rel, err := filepath.Rel(vm.MountPath, path)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != vm.Name || v.Secret == nil || !slices.ContainsFunc(v.Secret.Items, func(it corev1.KeyToPath) bool { return it.Path == rel }) {
				continue
			}
			secret = v.Secret.SecretName
			if !vm.ReadOnly {
				t.Errorf("%s: secret volume %s is mounted writable", workload, v.Name)
			}
			if m := v.Secret.DefaultMode; m == nil || *m&0o007 != 0 || *m&0o040 == 0 {
				t.Errorf("%s: secret volume %s has mode %v; want group-readable (fsGroup) and nothing for others", workload, v.Name, m)
			}
			if sc := pod.SecurityContext; sc == nil || sc.FSGroup == nil {
				t.Errorf("%s: no fsGroup, so the non-root user cannot read %s (mode 0440, owned by root)", workload, path)
			}
			if v.Secret.Optional != nil && *v.Secret.Optional {
				t.Errorf("%s: Secret %s is optional: without it the pod would start and fail on the missing %s", workload, secret, setting)
			}
		}
	}
	if secret == "" {
		t.Errorf("%s: %s %q is not an item of a mounted Secret", workload, setting, path)
	}
	return secret
}

// checkReplayWiring checks that the processor and the API hold the same replay keys, from the documented Secret,
// and that the API's replay jobs list a bucket the processors accept and enqueue on the queue they poll.
func checkReplayWiring(t *testing.T, o *objects) {
	t.Helper()
	secrets := map[string]string{}
	envs := map[string]map[string]string{}
	for name := range logrouterCommands {
		d := o.deployments[name]
		c := d.Spec.Template.Spec.Containers[0]
		envs[name] = o.env(c)
		secrets[name] = secretFile(t, name, d, c, envs[name], "LOGROUTER_REPLAY_KEYS_FILE")
		if secrets[name] != replayKeysSecret {
			t.Errorf("%s: LOGROUTER_REPLAY_KEYS_FILE comes from Secret %q, want %s (deploy/README.md)", name, secrets[name], replayKeysSecret)
		}
	}
	proc, api := envs["logrouter-processor"], envs["logrouter-api"]
	if api["LOGROUTER_QUEUE_URL"] != proc["LOGROUTER_QUEUE_URL"] {
		t.Errorf("the API's replay jobs enqueue on %q but the processors poll %q", api["LOGROUTER_QUEUE_URL"], proc["LOGROUTER_QUEUE_URL"])
	}
	listed, _, _ := strings.Cut(api["LOGROUTER_SOURCE_BUCKETS"], ",")
	if listed = strings.TrimSpace(listed); listed == "" || !slices.Contains(strings.Split(proc["LOGROUTER_SOURCE_BUCKETS"], ","), listed) {
		t.Errorf("the API's replay jobs list bucket %q, which the processors' LOGROUTER_SOURCE_BUCKETS %q does not accept",
			listed, proc["LOGROUTER_SOURCE_BUCKETS"])
	}
	if api["LOGROUTER_STATUS_TABLE"] != proc["LOGROUTER_STATUS_TABLE"] {
		t.Errorf("the API keeps replay jobs and reads status in %q, the processors record status in %q", api["LOGROUTER_STATUS_TABLE"], proc["LOGROUTER_STATUS_TABLE"])
	}
}

func checkScaledObject(t *testing.T, o *objects, so *scaledObject, procEnv map[string]string) {
	t.Helper()
	if d := o.deployments[so.Spec.ScaleTargetRef.Name]; d == nil || so.Spec.ScaleTargetRef.Name != "logrouter-processor" {
		t.Errorf("ScaledObject targets %q, want the processor Deployment", so.Spec.ScaleTargetRef.Name)
	}
	minR, maxR := so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount
	if minR == nil || maxR == nil || *minR < 2 || *maxR < *minR {
		t.Errorf("ScaledObject replicas min %v max %v: want min ≥ 2 (the PDB keeps one) and max ≥ min", minR, maxR)
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "aws-sqs-queue" {
		t.Fatalf("ScaledObject triggers %+v, want one aws-sqs-queue trigger", so.Spec.Triggers)
	}
	tr := so.Spec.Triggers[0]
	if got, want := tr.Metadata["queueURL"], procEnv["LOGROUTER_QUEUE_URL"]; got != want {
		t.Errorf("ScaledObject scales on queue %q but the processor polls %q", got, want)
	}
	if got, want := tr.Metadata["awsRegion"], procEnv["AWS_REGION"]; got != want {
		t.Errorf("ScaledObject awsRegion %q, processor AWS_REGION %q", got, want)
	}
	if n, err := strconv.Atoi(tr.Metadata["queueLength"]); err != nil || n < 1 {
		t.Errorf("ScaledObject queueLength %q, want a positive integer", tr.Metadata["queueLength"])
	}
	if tr.AuthenticationRef == nil || o.triggerAuths[tr.AuthenticationRef.Name] == nil {
		t.Fatalf("ScaledObject authenticationRef %+v does not name a TriggerAuthentication", tr.AuthenticationRef)
	}
	ta := o.triggerAuths[tr.AuthenticationRef.Name]
	if ta.Spec.PodIdentity == nil || ta.Spec.PodIdentity.Provider != "aws" || ta.Spec.PodIdentity.IdentityOwner != "workload" {
		t.Errorf("TriggerAuthentication %s: want podIdentity provider aws with identityOwner workload (the processor's IRSA role)", ta.Metadata.Name)
	}
}

func checkServiceMonitors(t *testing.T, o *objects) {
	t.Helper()
	for n, pm := range o.podMonitors {
		pod := selectedPod(o, pm.Spec.Selector.MatchLabels)
		if pod == nil {
			t.Errorf("PodMonitor %s selects no workload's pods", n)
			continue
		}
		for _, ep := range pm.Spec.PodMetricsEndpoints {
			if findPort(pod.Spec.Containers, ep.Port) == nil || ep.Path != "/metrics" {
				t.Errorf("PodMonitor %s scrapes %s on port %q, which the pods do not expose as /metrics", n, ep.Path, ep.Port)
			}
		}
	}
	for n, r := range o.rules {
		for _, g := range r.Spec.Groups {
			for _, rule := range g.Rules {
				if (rule.Alert == "") == (rule.Record == "") || strings.TrimSpace(rule.Expr) == "" {
					t.Errorf("PrometheusRule %s group %s: a rule needs an expr and exactly one of alert or record", n, g.Name)
				}
			}
		}
	}
	for n, sm := range o.serviceMonitors {
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil || sel.Empty() {
			t.Errorf("ServiceMonitor %s: bad selector: %v", n, err)
			continue
		}
		var svc *corev1.Service
		for _, s := range o.services {
			if sel.Matches(labels.Set(s.Labels)) {
				svc = s
			}
		}
		if svc == nil {
			t.Errorf("ServiceMonitor %s selects no Service", n)
			continue
		}
		for _, ep := range sm.Spec.Endpoints {
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
				t.Errorf("ServiceMonitor %s scrapes port %q, which Service %s lacks", n, ep.Port, svc.Name)
			}
			if ep.Path != "/metrics" {
				t.Errorf("ServiceMonitor %s path %q, want /metrics", n, ep.Path)
			}
		}
	}
}

// vectorConfig is the part of vector/vector.yaml the DaemonSet must agree with.
type vectorConfig struct {
	raw     []byte
	DataDir string `json:"data_dir"`
	API     struct {
		Address string `json:"address"`
	} `json:"api"`
	Sinks struct {
		Prometheus struct {
			Address string `json:"address"`
		} `json:"prometheus"`
	} `json:"sinks"`
}

func readVectorConfig(t *testing.T) vectorConfig {
	t.Helper()
	raw, err := os.ReadFile(vectorYAML)
	if err != nil {
		t.Fatal(err)
	}
	var c vectorConfig
	if err := sigsyaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("%s: %v", vectorYAML, err)
	}
	c.raw = raw
	return c
}

var vectorEnvRef = regexp.MustCompile(`\$\{([A-Z0-9_]+)\}|get_env_var\("([A-Z0-9_]+)"\)`)

func TestVectorDaemonSetMatchesConfig(t *testing.T) {
	cfg := readVectorConfig(t)
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			o := build(t, dir)
			ds := o.daemonSets["vector"]
			if ds == nil {
				t.Fatal("DaemonSet vector is missing")
			}
			pod := ds.Spec.Template.Spec
			c := pod.Containers[0]
			if m := regexp.MustCompile(`/timberio/vector:0\.(\d+)\.\d+-`).FindStringSubmatch(c.Image); m == nil {
				t.Errorf("vector image %q is not a versioned timberio/vector image", c.Image)
			} else if minor, _ := strconv.Atoi(m[1]); minor < 48 {
				t.Errorf("vector image %q: the configuration needs Vector 0.48 or newer", c.Image)
			}

			// The config file: a ConfigMap holding exactly vector/vector.yaml, mounted where --config points.
			var cfgPath string
			for i, a := range c.Args {
				if (a == "--config" || a == "-c") && i+1 < len(c.Args) {
					cfgPath = c.Args[i+1]
				}
			}
			mounted := false
			for _, vm := range c.VolumeMounts {
				for _, v := range pod.Volumes {
					if v.Name != vm.Name || v.ConfigMap == nil || filepath.Dir(cfgPath) != vm.MountPath {
						continue
					}
					cm := o.configMaps[v.ConfigMap.Name]
					if cm == nil {
						continue
					}
					mounted = true
					if got := cm.Data[filepath.Base(cfgPath)]; got != string(cfg.raw) {
						t.Errorf("ConfigMap %s key %s differs from vector/vector.yaml: run `make vector-sync`", cm.Name, filepath.Base(cfgPath))
					}
				}
			}
			if !mounted {
				t.Errorf("vector --config %q is not a file of a mounted ConfigMap", cfgPath)
			}

			// Every environment variable the configuration reads is set.
			env := o.env(c)
			for _, m := range vectorEnvRef.FindAllStringSubmatch(string(cfg.raw), -1) {
				name := m[1] + m[2]
				if env[name] == "" {
					t.Errorf("vector.yaml reads %s, which the DaemonSet does not set", name)
				}
			}
			if env["VECTOR_SELF_NODE_NAME"] != "(fieldRef)" {
				t.Error("VECTOR_SELF_NODE_NAME must come from the downward API (spec.nodeName)")
			}

			// Data dir (checkpoints and the disk buffer) on the host, so it survives pod restarts.
			onHost := false
			for _, vm := range c.VolumeMounts {
				for _, v := range pod.Volumes {
					if v.Name == vm.Name && v.HostPath != nil && vm.MountPath == cfg.DataDir && !vm.ReadOnly {
						onHost = true
					}
				}
			}
			if !onHost {
				t.Errorf("data_dir %s is not a writable hostPath mount", cfg.DataDir)
			}

			ports := map[string]string{"metrics": cfg.Sinks.Prometheus.Address, "api": cfg.API.Address}
			for name, addr := range ports {
				if p := findPort([]corev1.Container{c}, name); p == nil || p.ContainerPort != addrPort(t, name, addr) {
					t.Errorf("container port %s = %v, want the port of %q from vector.yaml", name, p, addr)
				}
			}

			// RBAC: the service account may watch pods, namespaces and nodes cluster-wide.
			granted := map[string]bool{}
			for _, b := range o.bindings {
				for _, s := range b.Subjects {
					if s.Kind != "ServiceAccount" || s.Name != pod.ServiceAccountName || s.Namespace != namespace {
						continue
					}
					role := o.clusterRoles[b.RoleRef.Name]
					if b.RoleRef.Kind != "ClusterRole" || role == nil {
						t.Errorf("ClusterRoleBinding %s refers to a missing ClusterRole %s", b.Name, b.RoleRef.Name)
						continue
					}
					for _, r := range role.Rules {
						for _, res := range r.Resources {
							if slices.Contains(r.APIGroups, "") && slices.Contains(r.Verbs, "list") && slices.Contains(r.Verbs, "watch") {
								granted[res] = true
							}
						}
					}
				}
			}
			for _, res := range []string{"pods", "namespaces", "nodes"} {
				if !granted[res] {
					t.Errorf("Vector's service account may not list/watch %s", res)
				}
			}
		})
	}
}

// The example overlay must be a complete deployment: no placeholders left, real image tags.
func TestExampleOverlayIsComplete(t *testing.T) {
	o := build(t, "kubernetes/overlays/example")
	for _, bad := range []string{placeholder, "000000000000", ":latest"} {
		if i := bytes.Index(o.raw, []byte(bad)); i >= 0 {
			start := max(0, i-120)
			t.Errorf("overlay output still contains %q: ...%s...", bad, o.raw[start:min(len(o.raw), i+40)])
		}
	}
}

// The logrouter containers rely on the image's entrypoint (they set only args) and run as its user; the ports
// they declare are the ones the image exposes.
func TestLogrouterContainersMatchTheImage(t *testing.T) {
	raw, err := os.ReadFile("../Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	var entrypoint, user string
	exposed := map[int32]bool{}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "ENTRYPOINT":
			entrypoint = strings.Join(f[1:], " ")
		case "USER":
			user = f[1]
		case "EXPOSE":
			for _, p := range f[1:] {
				n, err := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
				if err != nil {
					t.Fatalf("Containerfile EXPOSE %q: %v", p, err)
				}
				exposed[int32(n)] = true
			}
		}
	}
	if !regexp.MustCompile(`^\["[^"]*/logrouter"\]$`).MatchString(entrypoint) {
		t.Fatalf("Containerfile ENTRYPOINT %q is not the logrouter binary; the manifests pass only args", entrypoint)
	}
	ids := strings.SplitN(user, ":", 2)
	uid, err := strconv.ParseInt(ids[0], 10, 64)
	if err != nil || uid == 0 {
		t.Fatalf("Containerfile USER %q is not a numeric non-root user; the pods set runAsNonRoot", user)
	}
	gid := uid
	if len(ids) == 2 {
		if gid, err = strconv.ParseInt(ids[1], 10, 64); err != nil {
			t.Fatalf("Containerfile USER %q: group %v", user, err)
		}
	}
	o := build(t, "kubernetes/base")
	for name := range logrouterCommands {
		pod := o.deployments[name].Spec.Template.Spec
		for _, c := range pod.Containers {
			for _, p := range c.Ports {
				if !exposed[p.ContainerPort] {
					t.Errorf("%s/%s: port %d is not exposed by the image (%v)", name, c.Name, p.ContainerPort, exposed)
				}
			}
		}
		if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("%s: pod must set runAsNonRoot", name)
		} else if sc.FSGroup != nil && *sc.FSGroup != gid {
			t.Errorf("%s: fsGroup %d differs from the image's group %d (the key file is mode 0440)", name, *sc.FSGroup, gid)
		}
	}
}
