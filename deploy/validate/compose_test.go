package validate

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

const (
	deployDir   = ".."
	composeFile = "../compose.yaml"
	onestopImg  = "onestop:dev"
)

// loadCompose loads a compose file as `docker compose config` does: schema validation
// (unknown keys fail), interpolation, consistency checks (depends_on on unknown services,
// unknown volumes), paths resolved from deploy/. It reads no environment, so that the
// machine's variables cannot change the result, and returns the variables the file asked
// for.
func loadCompose(t *testing.T, file string) (*types.Project, []string, error) {
	t.Helper()
	var asked []string
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(deployDir),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
		cli.WithConsistency(true),
		cli.WithLoadOptions(func(o *loader.Options) {
			o.SkipValidation = false
			if o.Interpolate == nil {
				return // the options are also applied where nothing is interpolated
			}
			lookup := o.Interpolate.LookupValue
			o.Interpolate.LookupValue = func(k string) (string, bool) {
				asked = append(asked, k)
				return lookup(k)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	return p, asked, err
}

func project(t *testing.T) *types.Project {
	t.Helper()
	p, asked, err := loadCompose(t, composeFile)
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	if len(asked) > 0 {
		// A '$' meant literally must be written '$$'; otherwise it silently becomes "".
		t.Errorf("compose.yaml interpolates %v: write $$ for a literal $", asked)
	}
	return p
}

// TestComposeLoadIsStrict proves the loader rejects what `docker compose` would: a
// misspelt key and a dependency on no service.
func TestComposeLoadIsStrict(t *testing.T) {
	data, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]string{
		{"    healthcheck:\n      test: [\"CMD\", \"/onestop\"", "    helthcheck:\n      test: [\"CMD\", \"/onestop\""},
		{"      migrate:\n        condition:", "      migrat:\n        condition:"},
		{"condition: service_completed_successfully", "condition: service_done"},
	} {
		bad := strings.Replace(string(data), c[0], c[1], 1)
		if bad == string(data) {
			t.Fatalf("compose.yaml has no %q", c[0])
		}
		path := filepath.Join(t.TempDir(), "compose.yaml")
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := loadCompose(t, path); err == nil {
			t.Errorf("%q loaded without an error", c[1])
		} else {
			t.Logf("%q: %v", c[1], err)
		}
	}
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("no service %s", name)
	}
	return s
}

func TestComposeServices(t *testing.T) {
	p := project(t)
	var names []string
	for n := range p.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"agency-sim", "gateway", "grafana", "migrate", "postgres", "prometheus", "redis", "seed"}
	if !slices.Equal(names, want) {
		t.Errorf("services %v, want %v", names, want)
	}
	for _, s := range p.Services {
		switch {
		case s.Image == onestopImg:
			if s.Build == nil || filepath.Clean(s.Build.Context) != mustAbs(t, repoRoot) || s.Build.Dockerfile != "Dockerfile" {
				t.Errorf("%s: want a build of the repository's Dockerfile, got %+v", s.Name, s.Build)
			}
			if s.PullPolicy != types.PullPolicyBuild {
				t.Errorf("%s: pull_policy %q: %s must never be pulled from a registry", s.Name, s.PullPolicy, onestopImg)
			}
			if !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) {
				t.Errorf("%s: want read_only and cap_drop [ALL], like the pods", s.Name)
			}
		case !pinnedTag.MatchString(s.Image) || strings.HasSuffix(s.Image, ":latest"):
			t.Errorf("%s: image %q is not pinned to a tag", s.Name, s.Image)
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %d published on %q: the demo's secrets and plaintext tokens stay on 127.0.0.1", s.Name, port.Target, port.HostIP)
			}
		}
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestComposeGatewayReplicasAndHealth(t *testing.T) {
	p := project(t)
	gw := service(t, p, "gateway")
	if gw.Deploy == nil || gw.Deploy.Replicas == nil || *gw.Deploy.Replicas != 2 {
		t.Fatalf("gateway deploy.replicas %+v, want 2", gw.Deploy)
	}
	if !slices.Equal(gw.Command, []string{"serve"}) {
		t.Errorf("gateway command %v", gw.Command)
	}
	for _, target := range []uint32{9090, 8080} {
		i := slices.IndexFunc(gw.Ports, func(pc types.ServicePortConfig) bool { return pc.Target == target })
		if i < 0 {
			t.Errorf("gateway: port %d not published", target)
			continue
		}
		// Replicas cannot share a host port: the range must hold one for each.
		lo, hi, ok := strings.Cut(gw.Ports[i].Published, "-")
		a, _ := strconv.Atoi(lo)
		b, _ := strconv.Atoi(hi)
		if !ok || b-a+1 < *gw.Deploy.Replicas {
			t.Errorf("gateway port %d published as %q: want a range of %d host ports", target, gw.Ports[i].Published, *gw.Deploy.Replicas)
		}
	}
	if hc := gw.HealthCheck; hc == nil || hc.Disable || !slices.Equal([]string(hc.Test), append([]string{"CMD"}, dockerfileHealthcheck(t)...)) {
		t.Errorf("gateway healthcheck %+v, want the image's HEALTHCHECK %v", hc, dockerfileHealthcheck(t))
	}
	for _, name := range []string{"postgres", "redis"} {
		if hc := service(t, p, name).HealthCheck; hc == nil || hc.Disable || len(hc.Test) < 2 {
			t.Errorf("%s has no healthcheck", name)
		}
	}
	// The image's gRPC HEALTHCHECK means nothing for the one-shots and the HTTP-only simulator.
	for _, name := range []string{"migrate", "seed", "agency-sim"} {
		if hc := service(t, p, name).HealthCheck; hc == nil || !hc.Disable {
			t.Errorf("%s inherits the image's gRPC HEALTHCHECK, which it cannot pass", name)
		}
	}
}

func TestComposeDependsOn(t *testing.T) {
	p := project(t)
	want := map[string]map[string]string{
		"migrate":    {"postgres": types.ServiceConditionHealthy},
		"seed":       {"redis": types.ServiceConditionHealthy},
		"gateway":    {"migrate": types.ServiceConditionCompletedSuccessfully, "seed": types.ServiceConditionCompletedSuccessfully, "redis": types.ServiceConditionHealthy, "agency-sim": types.ServiceConditionStarted},
		"prometheus": {"gateway": types.ServiceConditionHealthy},
		"grafana":    {"prometheus": types.ServiceConditionStarted},
	}
	for name, deps := range want {
		s := service(t, p, name)
		got := map[string]string{}
		for dep, d := range s.DependsOn {
			got[dep] = d.Condition
		}
		for dep, cond := range deps {
			if got[dep] != cond {
				t.Errorf("%s depends on %s: %q, want %q", name, dep, got[dep], cond)
			}
		}
	}
	// A condition of health needs a health check to pass, and a one-shot a restart policy
	// that lets it complete.
	for _, s := range p.Services {
		for dep, d := range s.DependsOn {
			target := service(t, p, dep)
			switch d.Condition {
			case types.ServiceConditionHealthy:
				if target.HealthCheck == nil || target.HealthCheck.Disable {
					t.Errorf("%s waits for %s to be healthy, which has no health check", s.Name, dep)
				}
			case types.ServiceConditionCompletedSuccessfully:
				if target.Restart != "" && target.Restart != "no" {
					t.Errorf("%s waits for %s to complete, whose restart policy %q restarts it", s.Name, dep, target.Restart)
				}
			}
		}
	}
}

// TestComposeMounts: every file or folder a service mounts exists, and what the services
// are told to read lies inside a mount.
func TestComposeMounts(t *testing.T) {
	p := project(t)
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s mounts %s: %v", s.Name, v.Source, err)
			}
			if !v.ReadOnly {
				t.Errorf("%s mounts %s writable", s.Name, v.Source)
			}
		}
		// The ONESTOP_* paths and the command's file arguments resolve inside a mount.
		var paths []string
		for k, v := range s.Environment {
			if v != nil && strings.HasPrefix(k, "ONESTOP_") && strings.HasPrefix(*v, "/") {
				paths = append(paths, *v)
			}
		}
		if s.Image == onestopImg {
			for _, a := range s.Command {
				if strings.HasPrefix(a, "/") {
					paths = append(paths, a)
				}
			}
		}
		for _, path := range paths {
			if host := hostPath(s, path); host == "" {
				t.Errorf("%s reads %s, which no mount provides", s.Name, path)
			} else if _, err := os.Stat(host); err != nil {
				t.Errorf("%s reads %s: %v", s.Name, path, err)
			}
		}
	}
}

// hostPath maps a path inside a service's container to the file a bind mount puts there.
func hostPath(s types.ServiceConfig, path string) string {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && (path == v.Target || strings.HasPrefix(path, v.Target+"/")) {
			return filepath.Join(v.Source, strings.TrimPrefix(path, v.Target))
		}
	}
	return ""
}

func env(s types.ServiceConfig, k string) string {
	if v := s.Environment[k]; v != nil {
		return *v
	}
	return ""
}

func TestComposeGatewayConfiguration(t *testing.T) {
	p := project(t)
	gw, seed := service(t, p, "gateway"), service(t, p, "seed")
	// serve's required settings (cmd/onestop/serve.go, config.Validate); the addresses come
	// from the image's ENV.
	for _, k := range []string{"REDIS", "INSTITUTIONS", "CATALOG", "POLICIES", "POSTGRES_URL", "PERSON_KEY_SECRET"} {
		if env(gw, "ONESTOP_"+k) == "" {
			t.Errorf("gateway: ONESTOP_%s is not set; serve requires it", k)
		}
	}
	if s := env(gw, "ONESTOP_PERSON_KEY_SECRET"); len(s) < 16 || s != env(seed, "ONESTOP_PERSON_KEY_SECRET") {
		t.Error("the seed and the gateways must share one person-key secret of at least 16 characters, or no person is found")
	}
	if env(gw, "ONESTOP_REDIS") != env(seed, "ONESTOP_REDIS") || env(gw, "ONESTOP_POSTGRES_URL") != env(service(t, p, "migrate"), "ONESTOP_POSTGRES_URL") {
		t.Error("the seed, migrate and the gateways must use the same Redis and Postgres")
	}
	sim := service(t, p, "agency-sim")
	i := slices.Index(sim.Command, "--addr")
	if i < 0 || i+1 == len(sim.Command) {
		t.Fatalf("agency-sim command %v: no --addr", sim.Command)
	}
	_, port, _ := strings.Cut(sim.Command[i+1], ":")
	if u := env(gw, "ONESTOP_AGENCIES_URL"); u != "http://agency-sim:"+port {
		t.Errorf("ONESTOP_AGENCIES_URL %q, want the simulator at http://agency-sim:%s", u, port)
	}
	// Postgres: deploy/postgres.conf mounted, and included by the init script.
	pg := service(t, p, "postgres")
	var conf, script string
	for _, v := range pg.Volumes {
		switch {
		case v.Source == mustAbs(t, filepath.Join(deployDir, "postgres.conf")):
			conf = v.Target
		case strings.HasPrefix(v.Target, "/docker-entrypoint-initdb.d/"):
			script = v.Source
		}
	}
	b, err := os.ReadFile(script)
	if conf == "" || err != nil || !strings.Contains(string(b), "include '"+conf+"'") {
		t.Errorf("postgres: deploy/postgres.conf mounted at %q, init script %q (%v): want the script to include the mounted file", conf, script, err)
	}
}

// Prometheus's and Grafana's files, with the fields they use; decoded strictly, a misspelt
// key fails.
type promConfig struct {
	Global struct {
		ScrapeInterval     string `json:"scrape_interval"`
		EvaluationInterval string `json:"evaluation_interval"`
	} `json:"global"`
	ScrapeConfigs []struct {
		JobName      string `json:"job_name"`
		DNSSDConfigs []struct {
			Names           []string `json:"names"`
			Type            string   `json:"type"`
			Port            int      `json:"port"`
			RefreshInterval string   `json:"refresh_interval"`
		} `json:"dns_sd_configs"`
	} `json:"scrape_configs"`
}

type grafanaDatasources struct {
	APIVersion  int `json:"apiVersion"`
	Datasources []struct {
		Name      string `json:"name"`
		UID       string `json:"uid"`
		Type      string `json:"type"`
		Access    string `json:"access"`
		URL       string `json:"url"`
		IsDefault bool   `json:"isDefault"`
		Editable  bool   `json:"editable"`
	} `json:"datasources"`
}

type grafanaDashboards struct {
	APIVersion int `json:"apiVersion"`
	Providers  []struct {
		Name            string `json:"name"`
		Folder          string `json:"folder"`
		Type            string `json:"type"`
		DisableDeletion bool   `json:"disableDeletion"`
		AllowUIUpdates  bool   `json:"allowUiUpdates"`
		Options         struct {
			Path string `json:"path"`
		} `json:"options"`
	} `json:"providers"`
}

func decodeMounted(t *testing.T, s types.ServiceConfig, path string, v any) {
	t.Helper()
	host := hostPath(s, path)
	data, err := os.ReadFile(host)
	if err != nil {
		t.Fatalf("%s: %s: %v", s.Name, path, err)
	}
	if err := decodeStrict(data, v); err != nil {
		t.Fatalf("%s: %v", host, err)
	}
}

func TestComposePrometheusScrapesEveryGateway(t *testing.T) {
	p := project(t)
	prom := service(t, p, "prometheus")
	var cfg promConfig
	decodeMounted(t, prom, "/etc/prometheus/prometheus.yml", &cfg)
	if len(cfg.ScrapeConfigs) != 1 || len(cfg.ScrapeConfigs[0].DNSSDConfigs) != 1 {
		t.Fatalf("scrape configs %+v: want one job discovering the gateways by DNS", cfg.ScrapeConfigs)
	}
	sd := cfg.ScrapeConfigs[0].DNSSDConfigs[0]
	// The service name resolves to every replica: each is scraped, however many there are.
	if !slices.Equal(sd.Names, []string{"gateway"}) || sd.Type != "A" || sd.Port != 8080 {
		t.Errorf("dns_sd %+v: want A records of the gateway service, port 8080 (its --http-addr)", sd)
	}
}

func TestComposeGrafanaDashboard(t *testing.T) {
	p := project(t)
	g := service(t, p, "grafana")
	var ds grafanaDatasources
	decodeMounted(t, g, "/etc/grafana/provisioning/datasources/prometheus.yaml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].URL != "http://prometheus:9090" || ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("datasources %+v: want the prometheus service", ds.Datasources)
	}
	uid := ds.Datasources[0].UID
	var dash grafanaDashboards
	decodeMounted(t, g, "/etc/grafana/provisioning/dashboards/onestop.yaml", &dash)
	if len(dash.Providers) != 1 || dash.Providers[0].Type != "file" {
		t.Fatalf("dashboard providers %+v", dash.Providers)
	}

	// The command fills the dashboard's ${DS_PROMETHEUS} with the data source's uid into the
	// provider's folder; do the same here and check the result.
	script := strings.Join(g.Command, " ")
	m := regexp.MustCompile(`sed 's/\$\{DS_PROMETHEUS\}/([A-Za-z0-9_-]+)/g' (\S+) > (\S+)`).FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("grafana command %q: no sed of ${DS_PROMETHEUS}", script)
	}
	if m[1] != uid {
		t.Errorf("the dashboard gets data source %q, the provisioned one is %q", m[1], uid)
	}
	if filepath.Dir(m[3]) != dash.Providers[0].Options.Path {
		t.Errorf("the dashboard is written to %s, the provider reads %s", m[3], dash.Providers[0].Options.Path)
	}
	if home := env(g, "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"); home != m[3] {
		t.Errorf("home dashboard %q, the dashboard is %q", home, m[3])
	}
	src := hostPath(g, m[2])
	if src != mustAbs(t, filepath.Join(deployDir, "grafana", "onestop.json")) {
		t.Errorf("the dashboard is read from %s, not deploy/grafana/onestop.json", src)
	}
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// In sed's basic regular expressions '$' not at the end, '{' and '}' are literal.
	filled := strings.ReplaceAll(string(raw), "${DS_PROMETHEUS}", m[1])
	if strings.Contains(filled, "${DS_") {
		t.Errorf("the dashboard has other inputs than ${DS_PROMETHEUS}, which provisioning leaves unresolved")
	}
	var board any
	if err := json.Unmarshal([]byte(filled), &board); err != nil {
		t.Fatalf("the filled dashboard is not JSON: %v", err)
	}
	var refs int
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if d, ok := v["datasource"].(map[string]any); ok && d["type"] == "prometheus" {
				refs++
				if d["uid"] != uid {
					t.Errorf("a panel's data source uid is %v, not %q", d["uid"], uid)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(board)
	if refs == 0 {
		t.Error("no Prometheus data source reference in the dashboard")
	}
}

// composeService is one service run from the onestop image, for the binary's checks.
type composeService struct {
	name    string
	command []string
}

func composeOnestopServices(t *testing.T) []composeService {
	t.Helper()
	var out []composeService
	for _, s := range project(t).Services {
		if s.Image == onestopImg {
			out = append(out, composeService{s.Name, s.Command})
		}
	}
	if len(out) == 0 {
		t.Fatal("no service runs the onestop image")
	}
	return out
}
