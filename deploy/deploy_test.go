// Package deploy holds the files that run The Open Money on a server: the
// systemd units, the container file, the Caddy example. Its tests check
// them with the tools this machine has (systemd-analyze, caddy) and, for
// what no tool here checks, by their properties.
package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// unit parses a systemd unit file into section → key → values (in order).
func unit(t *testing.T, name string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not key=value inside a section: %q", name, n, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func one(t *testing.T, u map[string]map[string][]string, section, key, want string) {
	t.Helper()
	if got := u[section][key]; !slices.Contains(got, want) {
		t.Errorf("[%s] %s = %q, want %q", section, key, got, want)
	}
}

// The service unit runs as its own user, with the file system read-only but
// for its state directory, no privileges, and secrets only from a root-only
// EnvironmentFile.
func TestServiceUnitIsHardened(t *testing.T) {
	u := unit(t, "openmoney.service")
	for k, v := range map[string]string{
		"User": "openmoney", "Group": "openmoney", "ProtectSystem": "strict", "StateDirectory": "openmoney",
		"StateDirectoryMode": "0700", "ProtectHome": "yes", "PrivateTmp": "yes", "NoNewPrivileges": "yes",
		"EnvironmentFile": "/etc/openmoney/openmoney.env", "CapabilityBoundingSet": "", "UMask": "0077",
		"RestartPreventExitStatus": "2", "KillSignal": "SIGTERM", "MemoryDenyWriteExecute": "yes",
	} {
		one(t, u, "Service", k, v)
	}
	if exec := u["Service"]["ExecStart"]; len(exec) != 1 || !strings.Contains(exec[0], "-config /etc/openmoney/config.yaml") {
		t.Errorf("ExecStart %q", exec)
	}
	one(t, u, "Install", "WantedBy", "multi-user.target")
	// No secret in the unit itself: no Environment= lines carrying one.
	for _, e := range u["Service"]["Environment"] {
		for _, secret := range []string{"SEED", "TOKEN", "COOKIES", "HASH", "DATABASE_URL"} {
			if strings.Contains(e, secret) {
				t.Errorf("a secret in the unit: Environment=%s", e)
			}
		}
	}
	b := unit(t, "openmoney-backup.service")
	one(t, b, "Service", "User", "openmoney")
	one(t, b, "Service", "ProtectSystem", "strict")
	one(t, b, "Service", "ReadWritePaths", "/var/backups/openmoney")
	if !strings.Contains(strings.Join(b["Service"]["ExecStart"], ""), "openmoney backup -config /etc/openmoney/config.yaml -to /var/backups/openmoney/") {
		t.Errorf("backup ExecStart %q", b["Service"]["ExecStart"])
	}
	one(t, unit(t, "openmoney-backup.timer"), "Timer", "OnCalendar", "hourly")
	if s, _ := os.ReadFile("openmoney.sysusers"); !regexp.MustCompile(`(?m)^u openmoney - .* /var/lib/openmoney /usr/sbin/nologin$`).Match(s) {
		t.Errorf("sysusers: %q", s)
	}
}

// systemd-analyze verify accepts the units, warnings included, in a root
// that holds their executables.
func TestUnitsVerifyWithSystemdAnalyze(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd); the property test still runs")
	}
	root := t.TempDir()
	units := []string{"openmoney.service", "openmoney-backup.service", "openmoney-backup.timer"}
	var paths []string
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(root, "etc/systemd/system", u)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, "/etc/systemd/system/"+u)
	}
	// The commands the units run, as executables inside the root.
	for _, cmd := range []string{"usr/local/bin/openmoney", "bin/sh", "usr/bin/find"} {
		p := filepath.Join(root, cmd)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The system's own units (sysinit.target and friends).
	for _, dir := range []string{"/usr/lib/systemd/system", "/lib/systemd/system"} {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			if err := os.MkdirAll(filepath.Join(root, "usr/lib/systemd"), 0o755); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("cp", "-a", dir, filepath.Join(root, "usr/lib/systemd/system")).CombinedOutput(); err != nil {
				t.Fatalf("copy %s: %v\n%s", dir, err, out)
			}
			break
		}
	}
	out, err := exec.Command(sa, append([]string{"--root=" + root, "verify"}, paths...)...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// The container file: multi-stage, a static (cgo off) binary built with
// its VCS stamp, a non-root final image without a shell, and no secret
// baked in; the build context leaves local state and configs out.
func TestContainerFile(t *testing.T) {
	b, err := os.ReadFile("Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	type instr struct{ op, args string }
	var stages [][]instr
	for _, raw := range strings.Split(string(b), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		op, args, _ := strings.Cut(line, " ")
		op = strings.ToUpper(op)
		if op == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("%q before the first FROM", line)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], instr{op, args})
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a runtime stage", len(stages))
	}
	has := func(st []instr, op, sub string) bool {
		for _, in := range st {
			if in.op == op && strings.Contains(in.args, sub) {
				return true
			}
		}
		return false
	}
	build, final := stages[0], stages[len(stages)-1]
	gomod, _ := os.ReadFile("../go.mod")
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVer == nil || !has(build, "FROM", "golang:"+string(goVer[1])) {
		t.Errorf("the build stage does not use go.mod's Go %s: %v", goVer, build[0])
	}
	if !has(build, "ENV", "CGO_ENABLED=0") || !has(build, "ENV", "-buildvcs=true") || !has(build, "RUN", "go build") {
		t.Error("the build stage must build with CGO_ENABLED=0 and VCS stamping")
	}
	if !has(final, "FROM", "distroless/static") && !has(final, "FROM", "scratch") {
		t.Errorf("the final stage is not a static base: %v", final[0])
	}
	user := ""
	for _, in := range final {
		if in.op == "USER" {
			user = in.args
		}
		if in.op == "RUN" {
			t.Errorf("RUN in the final stage (it has no shell, and needs none): %s", in.args)
		}
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("final USER %q: must be a non-root user", user)
	}
	if !has(final, "COPY", "--from=") || !has(final, "ENTRYPOINT", `["/usr/local/bin/openmoney"]`) || !has(final, "VOLUME", "/var/lib/openmoney") {
		t.Error("the final stage must copy the binary from the build stage, run it exec-form and keep the store on a volume")
	}
	secret := regexp.MustCompile(`(?i)(SEED|TOKEN|COOKIE|HASH|PASSWORD|SECRET|DATABASE_URL)`)
	for _, st := range stages {
		for _, in := range st {
			if (in.op == "ENV" || in.op == "ARG" || in.op == "LABEL") && secret.MatchString(in.args) {
				t.Errorf("a secret baked into the image: %s %s", in.op, in.args)
			}
			if in.op == "COPY" && regexp.MustCompile(`config\.yaml|\.env\b|\.db\b`).MatchString(in.args) {
				t.Errorf("a config or store copied into the image: COPY %s", in.args)
			}
		}
	}
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"data/", "config.yaml", "*.db", "*.env"} {
		if !slices.Contains(strings.Split(string(ignore), "\n"), want) {
			t.Errorf(".dockerignore does not leave out %s", want)
		}
	}
}

// The Caddy example: automatic HTTPS for a site name, the operator routes
// closed, X-Forwarded-For as the only client claim; `caddy validate`
// accepts it when caddy is installed.
func TestCaddyfile(t *testing.T) {
	b, err := os.ReadFile("Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"api.example.com {", "reverse_proxy 127.0.0.1:8080", "header_up -Forwarded",
		"@admin path /api/v1/admin /api/v1/admin/*", `trusted_proxies: ["127.0.0.1/32", "::1/128"]`} {
		if !strings.Contains(s, want) {
			t.Errorf("Caddyfile lacks %q", want)
		}
	}
	if strings.Contains(s, "auto_https off") || strings.Contains(s, "http://api.example.com") {
		t.Error("the example must keep Caddy's automatic HTTPS")
	}
	caddy, err := exec.LookPath("caddy")
	if err != nil {
		t.Skip("caddy not installed (apt-get install caddy); checked by its properties only")
	}
	cmd := exec.Command(caddy, "validate", "--config", "Caddyfile", "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("Valid configuration")) {
		t.Fatalf("caddy validate: %v\n%s", err, out)
	}
}
