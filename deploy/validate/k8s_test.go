package validate

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"onestop/gateway/policy"
	"onestop/gateway/refdata"
)

var update = flag.Bool("update", false, "rewrite deploy/k8s's data ConfigMaps from cmd/onestop/demo")

const (
	k8sDir  = "../k8s"
	demoDir = "../../cmd/onestop/demo"
	// secretTemplate is decoded and checked like the rest but left out of the kustomization.
	secretTemplate = "secret.template.yaml"
)

// kustomization holds the fields deploy/k8s uses; decoded strictly like the rest, a field
// outside them fails, as a misspelt one should.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels"`
	Resources []string `json:"resources"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// manifests is deploy/k8s decoded: every object by kind and name.
type manifests struct {
	kustomization kustomization
	files         map[string]any // file name → its one object
	deployments   map[string]*appsv1.Deployment
	services      map[string]*corev1.Service
	configMaps    map[string]*corev1.ConfigMap
	secrets       map[string]*corev1.Secret
	jobs          map[string]*batchv1.Job
	hpas          map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs          map[string]*policyv1.PodDisruptionBudget
}

// decodeStrict decodes as the API server does with strict field validation: duplicate keys,
// unknown fields and wrong types fail, and field names match case-sensitively.
// yaml.UnmarshalStrict alone is not enough: encoding/json matches runAsNonroot to
// runAsNonRoot, while the API server drops it with a warning, and the pod runs as root.
func decodeStrict(data []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// loadManifests decodes every YAML file of deploy/k8s strictly into its kind's API type.
func loadManifests(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{files: map[string]any{}, deployments: map[string]*appsv1.Deployment{},
		services: map[string]*corev1.Service{}, configMaps: map[string]*corev1.ConfigMap{},
		secrets: map[string]*corev1.Secret{}, jobs: map[string]*batchv1.Job{},
		hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, pdbs: map[string]*policyv1.PodDisruptionBudget{}}
	paths, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no manifests in %s: %v", k8sDir, err)
	}
	for _, path := range paths {
		name := filepath.Base(path)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("\n---")) {
			t.Errorf("%s: one object a file, so that each is named by its file", name)
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(data, &head); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if head.Metadata.Namespace != "" {
			t.Errorf("%s: namespace %q: the manifests take theirs from kubectl -n or an overlay", name, head.Metadata.Namespace)
		}
		var obj any
		switch head.APIVersion + " " + head.Kind {
		case "kustomize.config.k8s.io/v1beta1 Kustomization":
			obj = &m.kustomization
		case "apps/v1 Deployment":
			o := &appsv1.Deployment{}
			m.deployments[head.Metadata.Name], obj = o, o
		case "v1 Service":
			o := &corev1.Service{}
			m.services[head.Metadata.Name], obj = o, o
		case "v1 ConfigMap":
			o := &corev1.ConfigMap{}
			m.configMaps[head.Metadata.Name], obj = o, o
		case "v1 Secret":
			o := &corev1.Secret{}
			m.secrets[head.Metadata.Name], obj = o, o
		case "batch/v1 Job":
			o := &batchv1.Job{}
			m.jobs[head.Metadata.Name], obj = o, o
		case "autoscaling/v2 HorizontalPodAutoscaler":
			o := &autoscalingv2.HorizontalPodAutoscaler{}
			m.hpas[head.Metadata.Name], obj = o, o
		case "policy/v1 PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			m.pdbs[head.Metadata.Name], obj = o, o
		default:
			t.Errorf("%s: %s %s is not a kind this test knows: add it", name, head.APIVersion, head.Kind)
			continue
		}
		if err := decodeStrict(data, obj); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		m.files[name] = obj
	}
	return m
}

// TestK8sStrictDecodingCatchesTypos proves the decoding above is strict: a misspelt field
// must fail, or every other test here proves less than it seems.
func TestK8sStrictDecodingCatchesTypos(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(k8sDir, "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, typo := range [][2]string{{"readinessProbe:", "readynessProbe:"}, {"runAsNonRoot:", "runAsNonroot:"}, {"containerPort:", "containerport:"}} {
		bad := bytes.Replace(data, []byte(typo[0]), []byte(typo[1]), 1)
		if bytes.Equal(bad, data) {
			t.Fatalf("deployment.yaml has no %s", typo[0])
		}
		if err := decodeStrict(bad, &appsv1.Deployment{}); err == nil {
			t.Errorf("%s decoded without an error", typo[1])
		}
	}
}

func TestK8sKustomizationListsEveryManifest(t *testing.T) {
	m := loadManifests(t)
	var want []string
	for name := range m.files {
		if name != "kustomization.yaml" && name != secretTemplate {
			want = append(want, name)
		}
	}
	got := slices.Clone(m.kustomization.Resources)
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("kustomization resources %v, want every manifest but the Secret template: %v", got, want)
	}
	if slices.Contains(got, secretTemplate) {
		t.Errorf("%s is listed: applying it would overwrite the real Secret with placeholders", secretTemplate)
	}
}

func gatewayDeployment(t *testing.T, m *manifests) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	d := m.deployments["onestop-gateway"]
	if d == nil {
		t.Fatal("no Deployment onestop-gateway")
	}
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want the gateway alone", len(d.Spec.Template.Spec.Containers))
	}
	return d, &d.Spec.Template.Spec.Containers[0]
}

func TestK8sDeployment(t *testing.T) {
	m := loadManifests(t)
	d, c := gatewayDeployment(t, m)
	pod := d.Spec.Template.Spec

	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", d.Spec.Replicas)
	}
	if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("selector %v does not select the pod labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	if !slices.Equal(c.Args, []string{"serve"}) {
		t.Errorf("args %v, want [serve]", c.Args)
	}
	if len(m.kustomization.Images) != 1 || m.kustomization.Images[0].Name != c.Image {
		t.Errorf("image %q is not the one the kustomization's images: entry rewrites (%+v)", c.Image, m.kustomization.Images)
	}

	// Probes: the kubelet's gRPC probe on the gateway's gRPC port, the health service.
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		switch {
		case p == nil:
			t.Errorf("no %s probe", name)
		case p.GRPC == nil || p.HTTPGet != nil || p.Exec != nil || p.TCPSocket != nil:
			t.Errorf("%s probe is not a gRPC probe: %+v", name, p.ProbeHandler)
		case p.GRPC.Port != 9090:
			t.Errorf("%s probe on port %d, want 9090", name, p.GRPC.Port)
		case p.GRPC.Service != nil && *p.GRPC.Service != "":
			t.Errorf("%s probe asks about service %q; the gateway reports the server as a whole (\"\")", name, *p.GRPC.Service)
		}
	}
	if !hasPort(c, "grpc", 9090) || !hasPort(c, "http", 8080) {
		t.Errorf("container ports %+v, want grpc 9090 and http 8080", c.Ports)
	}

	// Non-root, read-only, no capabilities, checked where the kubelet enforces it.
	psc, csc := pod.SecurityContext, c.SecurityContext
	switch {
	case psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot:
		t.Error("pod securityContext.runAsNonRoot is not true")
	case psc.RunAsUser == nil || *psc.RunAsUser == 0:
		// The image's USER is numeric too, but a numeric runAsUser lets the kubelet
		// verify runAsNonRoot whatever image is set.
		t.Error("pod securityContext.runAsUser is not a non-zero uid")
	}
	switch {
	case csc == nil:
		t.Fatal("no container securityContext")
	case csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem:
		t.Error("readOnlyRootFilesystem is not true")
	case csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation is not false")
	case csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) > 0:
		t.Errorf("capabilities %+v, want drop [ALL] and nothing added", csc.Capabilities)
	}

	// Resources: both requests and limits, for CPU (the HPA measures against the request)
	// and memory.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[r]
		lim, okLim := c.Resources.Limits[r]
		if !okReq || !okLim || req.IsZero() || req.Cmp(lim) > 0 {
			t.Errorf("%s: request %v, limit %v: want both, request ≤ limit", r, req.String(), lim.String())
		}
	}

	// Environment: the ConfigMap and the Secret, and every setting serve requires.
	var cmName, secretName string
	for _, e := range c.EnvFrom {
		switch {
		case e.ConfigMapRef != nil:
			cmName = e.ConfigMapRef.Name
		case e.SecretRef != nil:
			secretName = e.SecretRef.Name
		}
	}
	env, secret := m.configMaps[cmName], m.secrets[secretName]
	if env == nil || secret == nil {
		t.Fatalf("envFrom ConfigMap %q and Secret %q: want both among the manifests", cmName, secretName)
	}
	have := map[string]bool{}
	for k := range env.Data {
		have[k] = true
	}
	for k := range secret.StringData {
		have[k] = true
		if env.Data[k] != "" {
			t.Errorf("%s is in the ConfigMap and in the Secret", k)
		}
	}
	// serve's required settings (cmd/onestop/serve.go, config.Validate).
	for _, k := range []string{"GRPC_ADDR", "HTTP_ADDR", "REDIS", "INSTITUTIONS", "CATALOG", "POLICIES", "POSTGRES_URL", "PERSON_KEY_SECRET"} {
		if !have["ONESTOP_"+k] {
			t.Errorf("ONESTOP_%s is in neither the ConfigMap nor the Secret; serve requires it", k)
		}
	}
	for _, k := range []string{"ONESTOP_PERSON_KEY_SECRET", "ONESTOP_POSTGRES_URL", "ONESTOP_REDIS"} {
		if _, ok := env.Data[k]; ok {
			t.Errorf("%s is a secret and sits in a ConfigMap", k)
		}
	}

	// The reference-data paths lead into the mounted ConfigMaps.
	mounts := map[string]string{} // volume name → mount path
	for _, vm := range c.VolumeMounts {
		if !vm.ReadOnly {
			t.Errorf("volume %s is mounted writable", vm.Name)
		}
		mounts[vm.Name] = vm.MountPath
	}
	for _, v := range pod.Volumes {
		if v.ConfigMap == nil || m.configMaps[v.ConfigMap.Name] == nil {
			t.Errorf("volume %s: not one of the manifests' ConfigMaps", v.Name)
			continue
		}
		data := m.configMaps[v.ConfigMap.Name].Data
		dir := mounts[v.Name]
		switch v.Name {
		case "policies":
			if env.Data["ONESTOP_POLICIES"] != dir {
				t.Errorf("ONESTOP_POLICIES %q, policies mounted at %q", env.Data["ONESTOP_POLICIES"], dir)
			}
		case "institutions", "catalog":
			p := env.Data["ONESTOP_"+strings.ToUpper(v.Name)]
			if filepath.Dir(p) != dir || data[filepath.Base(p)] == "" {
				t.Errorf("ONESTOP_%s %q is not a key of ConfigMap %s mounted at %q", strings.ToUpper(v.Name), p, v.ConfigMap.Name, dir)
			}
		default:
			t.Errorf("volume %s: not one the gateway reads", v.Name)
		}
	}
	for _, want := range []string{"policies", "institutions", "catalog"} {
		if mounts[want] == "" {
			t.Errorf("no %s volume mounted", want)
		}
	}
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func hasPort(c *corev1.Container, name string, port int32) bool {
	return slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == name && p.ContainerPort == port })
}

func TestK8sServiceHPAAndPDBTargetTheGateway(t *testing.T) {
	m := loadManifests(t)
	d, c := gatewayDeployment(t, m)
	pods := d.Spec.Template.Labels

	s := m.services["onestop-gateway"]
	if s == nil {
		t.Fatal("no Service onestop-gateway")
	}
	if !selects(s.Spec.Selector, pods) {
		t.Errorf("Service selector %v does not select the gateway's pods %v", s.Spec.Selector, pods)
	}
	for _, want := range []struct {
		name string
		port int32
	}{{"grpc", 9090}, {"http", 8080}} {
		i := slices.IndexFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == want.name })
		if i < 0 || s.Spec.Ports[i].Port != want.port || !hasPort(c, s.Spec.Ports[i].TargetPort.String(), want.port) {
			t.Errorf("Service port %s: want %d to the container's %s port", want.name, want.port, want.name)
		}
	}

	h := m.hpas["onestop-gateway"]
	if h == nil {
		t.Fatal("no HorizontalPodAutoscaler onestop-gateway")
	}
	if ref := h.Spec.ScaleTargetRef; ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != d.Name {
		t.Errorf("HPA targets %+v, want the Deployment %s", ref, d.Name)
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
		t.Errorf("HPA replicas %v..%d: want at least 2, as the PDB and the Deployment assume", h.Spec.MinReplicas, h.Spec.MaxReplicas)
	}
	cpu := slices.ContainsFunc(h.Spec.Metrics, func(ms autoscalingv2.MetricSpec) bool {
		return ms.Type == autoscalingv2.ResourceMetricSourceType && ms.Resource != nil && ms.Resource.Name == corev1.ResourceCPU &&
			ms.Resource.Target.Type == autoscalingv2.UtilizationMetricType && ms.Resource.Target.AverageUtilization != nil
	})
	if !cpu {
		t.Errorf("HPA metrics %+v: want CPU utilisation", h.Spec.Metrics)
	}

	p := m.pdbs["onestop-gateway"]
	if p == nil {
		t.Fatal("no PodDisruptionBudget onestop-gateway")
	}
	if p.Spec.Selector == nil || !selects(p.Spec.Selector.MatchLabels, pods) {
		t.Errorf("PDB selector %v does not select the gateway's pods %v", p.Spec.Selector, pods)
	}
	if p.Spec.MinAvailable == nil || p.Spec.MinAvailable.IntValue() != 1 || p.Spec.MaxUnavailable != nil {
		t.Errorf("PDB minAvailable %v, maxUnavailable %v: want minAvailable 1", p.Spec.MinAvailable, p.Spec.MaxUnavailable)
	}
}

func TestK8sMigrateJobAndSecret(t *testing.T) {
	m := loadManifests(t)
	_, gw := gatewayDeployment(t, m)
	j := m.jobs["onestop-migrate"]
	if j == nil {
		t.Fatal("no Job onestop-migrate")
	}
	pod := j.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != gw.Image || !slices.Equal(c.Args, []string{"migrate"}) {
		t.Errorf("migrate runs %s %v, want the gateway's image (%s) with [migrate]", c.Image, c.Args, gw.Image)
	}
	if pod.RestartPolicy != corev1.RestartPolicyOnFailure && pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q: a Job's must be OnFailure or Never", pod.RestartPolicy)
	}
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Error("the migrate Job does not run as non-root")
	}
	if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("the migrate Job's root filesystem is writable")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Error("the migrate Job has no resources")
	}

	secret := m.secrets["onestop-secrets"]
	if secret == nil {
		t.Fatalf("no Secret onestop-secrets (%s)", secretTemplate)
	}
	if len(secret.Data) > 0 {
		t.Error("the Secret template has data: values; keep placeholders in stringData")
	}
	for _, e := range c.Env {
		if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
			if ref.SecretKeyRef.Name != secret.Name || secret.StringData[ref.SecretKeyRef.Key] == "" {
				t.Errorf("migrate's %s reads %s/%s, which the template does not hold", e.Name, ref.SecretKeyRef.Name, ref.SecretKeyRef.Key)
			}
		}
	}
	for k, v := range secret.StringData {
		if !strings.Contains(v, "REPLACE_ME") {
			t.Errorf("Secret template %s = %q: a value that looks real; placeholders only", k, v)
		}
	}
	// The placeholder must fail serve's own check rather than run as a weak secret.
	if v := secret.StringData["ONESTOP_PERSON_KEY_SECRET"]; len(v) >= 16 {
		t.Errorf("the person-key placeholder %q is long enough for serve to accept", v)
	}
	if u := secret.StringData["ONESTOP_POSTGRES_URL"]; !strings.Contains(u, "sslmode=verify-full") {
		t.Errorf("the Postgres URL %q does not verify the server (sslmode=verify-full)", u)
	}
}

// dataConfigMap is one of the ConfigMaps made from the demo data, as its file should read.
type dataConfigMap struct {
	file, name, header string
	data               map[string]string
}

var plainToken = regexp.MustCompile(`\btoken: ([^,}\s]+)`)

// demoConfigMaps derives the ConfigMaps from cmd/onestop/demo: the policies and the catalog
// as they are, the institutions with each token replaced by its SHA-256.
func demoConfigMaps(t *testing.T) []dataConfigMap {
	t.Helper()
	read := func(path string) string {
		b, err := os.ReadFile(filepath.Join(demoDir, path))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	policies := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(demoDir, "policies", "*.yaml"))
	for _, f := range files {
		policies[filepath.Base(f)] = read(filepath.Join("policies", filepath.Base(f)))
	}
	inst := read("institutions.yaml")
	// Its own header says plain tokens are for dev data only: drop it with the tokens.
	for strings.HasPrefix(inst, "#") {
		_, inst, _ = strings.Cut(inst, "\n")
	}
	inst = plainToken.ReplaceAllStringFunc(inst, func(s string) string {
		sum := sha256.Sum256([]byte(plainToken.FindStringSubmatch(s)[1]))
		return "token_sha256: " + hex.EncodeToString(sum[:])
	})
	const regen = "# Generated from cmd/onestop/demo by `go test -run TestK8sDataConfigMaps -update` in\n" +
		"# deploy/validate; CI fails when the two differ. For your own data, replace the file in an\n" +
		"# overlay (or use a kustomize configMapGenerator on your folder).\n"
	return []dataConfigMap{
		{"configmap-policies.yaml", "onestop-policies",
			"# The demo policies, one key a file: the gateway loads every *.yaml in the mounted folder.\n" + regen,
			policies},
		{"configmap-catalog.yaml", "onestop-catalog", "# The demo catalog.\n" + regen,
			map[string]string{"catalog.csv": read("catalog.csv")}},
		{"configmap-institutions.yaml", "onestop-institutions",
			"# The demo institutions, each terminal's token replaced by its SHA-256 (token_sha256): a\n" +
				"# ConfigMap is readable by anyone who can read the namespace, so it never holds a token.\n" +
				"# DEMO ONLY: these are the digests of the tokens published in cmd/onestop/demo, so anyone\n" +
				"# can authenticate with them. Replace them with your institutions before production.\n" + regen,
			map[string]string{"institutions.yaml": inst}},
	}
}

// render writes a ConfigMap with each value as a literal block, readable in review.
func (d dataConfigMap) render(t *testing.T) []byte {
	t.Helper()
	var b strings.Builder
	b.WriteString(d.header)
	fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  labels:\n    app.kubernetes.io/name: onestop\ndata:\n", d.name)
	keys := make([]string, 0, len(d.data))
	for k := range d.data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := d.data[k]
		if !strings.HasSuffix(v, "\n") || strings.HasSuffix(v, "\n\n") || strings.HasPrefix(v, " ") {
			t.Fatalf("%s: %s does not fit a plain literal block (one final newline, no leading space)", d.file, k)
		}
		fmt.Fprintf(&b, "  %s: |\n", k)
		for _, line := range strings.SplitAfter(strings.TrimSuffix(v, "\n"), "\n") {
			if strings.TrimSpace(line) == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("    " + line)
		}
		b.WriteString("\n")
	}
	return []byte(b.String())
}

func TestK8sDataConfigMaps(t *testing.T) {
	for _, d := range demoConfigMaps(t) {
		want := d.render(t)
		path := filepath.Join(k8sDir, d.file)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the demo data it is made from: run `go test -run TestK8sDataConfigMaps -update` in deploy/validate", d.file)
		}
		// The literal blocks must decode to the files byte for byte.
		var cm corev1.ConfigMap
		if err := decodeStrict(want, &cm); err != nil {
			t.Fatalf("%s: %v", d.file, err)
		}
		for k, v := range d.data {
			if cm.Data[k] != v {
				t.Errorf("%s: key %s decodes to something else than its source", d.file, k)
			}
		}
	}
}

// mountConfigMap lays out a ConfigMap as the kubelet does in a volume: the files in a
// timestamped folder, ..data a link to it, and each key a link through ..data.
func mountConfigMap(t *testing.T, cm *corev1.ConfigMap) string {
	t.Helper()
	dir := t.TempDir()
	ts := filepath.Join(dir, "..2026_11_24_08_00_00.000000001")
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range cm.Data {
		if err := os.WriteFile(filepath.Join(ts, k), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", k), filepath.Join(dir, k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestK8sConfigMapsLoad reads the ConfigMaps with onestop's own loaders, mounted as the
// kubelet mounts them (hidden ..data entries and symbolic links included).
func TestK8sConfigMapsLoad(t *testing.T) {
	m := loadManifests(t)
	get := func(name string) *corev1.ConfigMap {
		cm := m.configMaps[name]
		if cm == nil {
			t.Fatalf("no ConfigMap %s", name)
		}
		return cm
	}

	set, err := policy.LoadDir(mountConfigMap(t, get("onestop-policies")))
	if err != nil {
		t.Fatalf("policies: %v", err)
	}
	if n := len(set.All()); n != len(get("onestop-policies").Data) {
		t.Errorf("%d policies loaded from %d files", n, len(get("onestop-policies").Data))
	}

	cat, err := refdata.LoadCatalog(filepath.Join(mountConfigMap(t, get("onestop-catalog")), "catalog.csv"))
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	if cat.Len() == 0 {
		t.Error("the catalog is empty")
	}

	insts := get("onestop-institutions")
	if _, err := refdata.LoadInstitutions(filepath.Join(mountConfigMap(t, insts), "institutions.yaml")); err != nil {
		t.Fatalf("institutions: %v", err)
	}
	var parsed struct {
		Institutions []struct {
			ID        string           `json:"id"`
			Terminals []map[string]any `json:"terminals"`
		} `json:"institutions"`
	}
	if err := yaml.Unmarshal([]byte(insts.Data["institutions.yaml"]), &parsed); err != nil {
		t.Fatal(err)
	}
	terminals := 0
	for _, in := range parsed.Institutions {
		for _, term := range in.Terminals {
			terminals++
			if _, ok := term["token"]; ok {
				t.Errorf("institution %s terminal %v: a plain token in a ConfigMap", in.ID, term["id"])
			}
			if _, ok := term["token_sha256"]; !ok && term["mtls"] != true {
				t.Errorf("institution %s terminal %v: neither token_sha256 nor mtls", in.ID, term["id"])
			}
		}
	}
	if terminals == 0 {
		t.Error("no terminals")
	}
}
