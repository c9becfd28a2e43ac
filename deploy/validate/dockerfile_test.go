package validate

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

const repoRoot = "../.."

// dockerfile is the top-level Dockerfile as BuildKit reads it: its own parser, its
// instruction parsing (flags of FROM, RUN --mount, HEALTHCHECK, exec forms) and the lint
// rules that run there. What `docker build` would refuse or warn about fails here.
type dockerfile struct {
	stages []instructions.Stage
}

func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("Dockerfile: %s", w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, url, msg string, loc []parser.Range) {
		t.Errorf("Dockerfile line %v: %s: %s (%s)", loc, rule, msg, url)
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	return dockerfile{stages}
}

// final returns the commands of the last stage: the image.
func (d dockerfile) final() []instructions.Command { return d.stages[len(d.stages)-1].Commands }

func find[C instructions.Command](cmds []instructions.Command) (C, bool) {
	var zero C
	for i := len(cmds) - 1; i >= 0; i-- { // the last one wins, as in Docker
		if c, ok := cmds[i].(C); ok {
			return c, true
		}
	}
	return zero, false
}

// dockerfileHealthcheck is the image's HEALTHCHECK command, exec form, without "CMD".
func dockerfileHealthcheck(t *testing.T) []string {
	t.Helper()
	hc, ok := find[*instructions.HealthCheckCommand](parseDockerfile(t).final())
	if !ok || len(hc.Health.Test) < 2 || hc.Health.Test[0] != "CMD" {
		t.Fatalf("HEALTHCHECK %+v: want the exec form (CMD [...]): the image has no shell", hc)
	}
	return hc.Health.Test[1:]
}

var pinnedTag = regexp.MustCompile(`^[^:@]+:[^:]+$`)

func TestDockerfile(t *testing.T) {
	d := parseDockerfile(t)
	if len(d.stages) != 2 {
		t.Fatalf("%d stages, want a builder and the final image", len(d.stages))
	}
	if img := d.stages[0].BaseName; !strings.HasPrefix(img, "golang:1.26") || !pinnedTag.MatchString(img) || strings.HasSuffix(img, ":latest") {
		t.Errorf("builder %q: want a pinned golang:1.26 tag", img)
	}
	if img := d.stages[1].BaseName; img != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("final image %q, want gcr.io/distroless/static-debian12:nonroot", img)
	}
	cmds := d.final()
	if cp, ok := find[*instructions.CopyCommand](cmds); !ok || cp.From != d.stages[0].Name || !slices.Equal(cp.SourcePaths, []string{"/out/onestop"}) || cp.DestPath != "/onestop" {
		t.Errorf("the final stage's COPY %+v: want /out/onestop from the builder to /onestop", cp)
	}
	if u, _ := find[*instructions.UserCommand](cmds); u == nil || !regexp.MustCompile(`^[1-9][0-9]*(:[0-9]+)?$`).MatchString(u.User) {
		t.Errorf("USER %+v: want a numeric non-root uid, which Kubernetes' runAsNonRoot can verify", u)
	}
	if e, _ := find[*instructions.EntrypointCommand](cmds); e == nil || e.PrependShell || !slices.Equal(e.CmdLine, []string{"/onestop"}) {
		t.Errorf("ENTRYPOINT %+v, want [\"/onestop\"]", e)
	}
	if c, _ := find[*instructions.CmdCommand](cmds); c == nil || c.PrependShell || !slices.Equal(c.CmdLine, []string{"serve"}) {
		t.Errorf("CMD %+v, want [\"serve\"]", c)
	}
	if e, _ := find[*instructions.ExposeCommand](cmds); e == nil || !slices.Contains(e.Ports, "9090") || !slices.Contains(e.Ports, "8080") {
		t.Errorf("EXPOSE %+v, want 9090 and 8080", e)
	}
	env := map[string]string{}
	for _, c := range cmds {
		if e, ok := c.(*instructions.EnvCommand); ok {
			for _, kv := range e.Env {
				env[kv.Key] = kv.Value
			}
		}
	}
	for k, v := range map[string]string{"ONESTOP_GRPC_ADDR": ":9090", "ONESTOP_HTTP_ADDR": ":8080"} {
		if env[k] != v {
			t.Errorf("ENV %s=%q, want %q: the gateway's loopback defaults are unreachable from outside a container", k, env[k], v)
		}
	}
	hc := dockerfileHealthcheck(t)
	if len(hc) < 2 || hc[0] != "/onestop" || hc[1] != "healthcheck" || !slices.Contains(hc, "127.0.0.1:9090") {
		t.Errorf("HEALTHCHECK %v: want /onestop healthcheck on 127.0.0.1:9090", hc)
	}
	build := buildCommand(t)
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-ldflags='-s -w'", "./cmd/onestop"} {
		if !strings.Contains(build, want) {
			t.Errorf("the build command %q lacks %s", build, want)
		}
	}
}

// buildCommand is the shell command of the builder's RUN that runs go build (its --mount
// flags are BuildKit's, parsed apart from the command).
func buildCommand(t *testing.T) string {
	t.Helper()
	for _, c := range parseDockerfile(t).stages[0].Commands {
		if r, ok := c.(*instructions.RunCommand); ok && r.PrependShell && strings.Contains(strings.Join(r.CmdLine, " "), "go build") {
			return strings.Join(strings.Fields(strings.Join(r.CmdLine, " ")), " ")
		}
	}
	t.Fatal("no RUN with go build in the builder stage")
	return ""
}

// dockerContext copies the repository as `docker build .` would send it: every file that
// .dockerignore does not exclude, matched by the library BuildKit matches with.
func dockerContext(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	root, _ := filepath.Abs(repoRoot)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "." {
			return nil
		}
		excluded, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		switch {
		case excluded && d.IsDir() && !pm.Exclusions():
			return filepath.SkipDir
		case excluded || !d.Type().IsRegular():
			return nil
		}
		return copyFile(path, filepath.Join(dst, rel))
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TestDockerfileBuild builds the binary as the Dockerfile's builder stage does — the same
// context, the same command — since no engine runs here to build the image itself, then
// checks what the final stage relies on: a static binary with every subcommand the
// HEALTHCHECK, compose and Kubernetes run.
func TestDockerfileBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the whole binary (~90 s on 2 cores)")
	}
	ctxDir := dockerContext(t)
	out := t.TempDir()
	cmdline := buildCommand(t)
	if !strings.Contains(cmdline, "-o /out/onestop") {
		t.Fatalf("the build command %q does not write /out/onestop, which the final stage copies", cmdline)
	}
	cmdline = strings.Replace(cmdline, "-o /out/onestop", "-o "+filepath.Join(out, "onestop"), 1)
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Dir = ctxDir
	// The builder image's environment: no GOFLAGS, the target from BuildKit's arguments
	// (this machine's architecture, to run the result).
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOFLAGS=") }),
		"TARGETOS=linux", "TARGETARCH="+runtime.GOARCH)
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, b)
	}
	bin := filepath.Join(out, "onestop")
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built in %s: %.1f MB (%d bytes)", time.Since(start).Round(time.Second), float64(st.Size())/1e6, st.Size())

	// distroless/static has no C library: the binary must not ask for one.
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a %s segment: it is dynamically linked", p.Type)
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs %v", libs)
	}
	if ef.Section(".symtab") != nil {
		t.Error("the binary keeps its symbol table: -ldflags='-s -w' did not apply")
	}

	// Every command line the deployment runs parses: the subcommand exists and knows the
	// flags given to it.
	commands := [][]string{{"serve"}, {"migrate"}, dockerfileHealthcheck(t)[1:]}
	for _, svc := range composeOnestopServices(t) {
		commands = append(commands, svc.command)
	}
	for _, args := range commands {
		var words, flags []string
		for _, a := range args {
			switch {
			case strings.HasPrefix(a, "--"):
				name, _, _ := strings.Cut(a, "=")
				flags = append(flags, name)
			case len(flags) == 0 && !strings.HasPrefix(a, "/"):
				words = append(words, a)
			}
		}
		help, err := exec.Command(bin, append(words, "--help")...).CombinedOutput()
		if err != nil || !bytes.Contains(help, []byte("onestop "+strings.Join(words, " "))) {
			t.Errorf("onestop %s --help: %v\n%s", strings.Join(words, " "), err, help)
			continue
		}
		for _, f := range flags {
			if !bytes.Contains(help, []byte(f+" ")) {
				t.Errorf("onestop %s has no flag %s", strings.Join(words, " "), f)
			}
		}
	}

	// The HEALTHCHECK, as the image runs it, against a health service serving and not.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(lis)
	defer srv.Stop()
	hc := dockerfileHealthcheck(t)[1:]
	hc[slices.Index(hc, "127.0.0.1:9090")] = lis.Addr().String()
	check := func() (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b, err := exec.CommandContext(ctx, bin, hc...).CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(b)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(b)
	}
	if code, msg := check(); code != 0 {
		t.Errorf("HEALTHCHECK on a serving gateway: exit %d, %s", code, msg)
	}
	hs.Shutdown() // what the gateway does on SIGTERM
	if code, msg := check(); code != 1 {
		// Docker reads 1 as unhealthy and reserves 2.
		t.Errorf("HEALTHCHECK on a draining gateway: exit %d (%s), want 1", code, msg)
	}
}
