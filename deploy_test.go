package hazelnut_test

import (
	"bufio"
	"bytes"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/hazelnut-mmp/hazelnut/internal/config"
)

// compose is the part of docker-compose.yml the checks read. Environments
// and depends_on are mappings (not lists) by convention.
type compose struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Volumes []string `yaml:"volumes"`
}

// hazelnut reports whether the service runs the Hazelnut binary.
func (s composeService) hazelnut() bool {
	return s.Build != nil || strings.Contains(s.Image, "hazelnut")
}

func readCompose(t *testing.T) compose {
	t.Helper()
	raw, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

var exportLine = regexp.MustCompile(`^export (HAZELNUT_[A-Z0-9_]+)=(.+)$`)

// serviceEnvNames are the variables `scripts/services.sh env` prints: the
// addresses of the backing services.
func serviceEnvNames(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("bash", "scripts/services.sh", "env")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/services.sh env: %v\n%s", err, stderr.String())
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := exportLine.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Errorf("scripts/services.sh env printed %q, not an `export HAZELNUT_NAME=value` line", sc.Text())
			continue
		}
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatal("scripts/services.sh env printed no variables")
	}
	slices.Sort(names)
	return names
}

// knownEnvNames are the variables the binary reads: the twins of every
// flag of config.Config.
func knownEnvNames() map[string]bool {
	cfg := config.Defaults()
	fs := pflag.NewFlagSet("hazelnut", pflag.ContinueOnError)
	cfg.Bind(fs)
	known := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { known[config.EnvName(f.Name)] = true })
	return known
}

// addressHost returns the host of a service address: a URL's host or the
// host of host:port.
func addressHost(v string) string {
	if u, err := url.Parse(v); err == nil && u.Host != "" {
		return u.Hostname()
	}
	if h, _, err := net.SplitHostPort(v); err == nil {
		return h
	}
	return ""
}

// The Hazelnut services of docker-compose.yml reach the backing services
// under the names scripts/services.sh prints, and set no variable the
// binary does not know.
func TestComposeEnvMatchesServicesScript(t *testing.T) {
	c := readCompose(t)
	want := serviceEnvNames(t)
	known := knownEnvNames()
	for _, n := range want {
		known[n] = true
	}
	var roles []string
	used := map[string]bool{}
	for name, s := range c.Services {
		for k := range s.Environment {
			if strings.HasPrefix(k, "HAZELNUT_") && !known[k] {
				t.Errorf("service %s sets %s, which the binary does not read", name, k)
			}
		}
		if !s.hazelnut() {
			continue
		}
		roles = append(roles, name)
		// A service address is a variable whose value names another
		// service of the file.
		var addrs []string
		for k, v := range s.Environment {
			host := addressHost(v)
			if _, isService := c.Services[host]; !isService || host == name {
				continue
			}
			addrs = append(addrs, k)
			if dep, ok := s.DependsOn[host]; !ok || dep.Condition != "service_healthy" {
				t.Errorf("service %s reaches %s (%s) but does not wait for it to be healthy", name, host, k)
			}
			if c.Services[host].Healthcheck == nil {
				t.Errorf("service %s has no healthcheck, and %s waits for it", host, name)
			}
		}
		slices.Sort(addrs)
		for _, a := range addrs {
			used[a] = true
			if !slices.Contains(want, a) {
				t.Errorf("service %s reaches a service through %s; scripts/services.sh env prints %v", name, a, want)
			}
		}
		// The roles that run for good get every address (operations such
		// as `topics apply` or `catalog seed` only what they use).
		if r := role(s); r != "topics" && r != "catalog" && !slices.Equal(addrs, want) {
			t.Errorf("service %s has the service addresses %v; scripts/services.sh env prints %v", name, addrs, want)
		}
	}
	if len(roles) == 0 {
		t.Fatal("docker-compose.yml runs no Hazelnut service")
	}
	for _, w := range want {
		if !used[w] {
			t.Errorf("no Hazelnut service of docker-compose.yml sets %s", w)
		}
	}
}

// The rest of docker-compose.yml agrees with itself and with DESIGN §1.
func TestComposeConsistent(t *testing.T) {
	c := readCompose(t)
	kafka, ok := c.Services["kafka"]
	if !ok {
		t.Fatal("no kafka service")
	}
	if !strings.HasPrefix(kafka.Image, "apache/kafka:") {
		t.Errorf("kafka runs %s, not the official apache/kafka image", kafka.Image)
	}
	if roles := kafka.Environment["KAFKA_PROCESS_ROLES"]; !strings.Contains(roles, "controller") {
		t.Errorf("kafka is not a KRaft controller (process roles %q)", roles)
	}
	if ch := c.Services["clickhouse"].Image; !strings.HasPrefix(ch, "clickhouse/clickhouse-server:24.") {
		t.Errorf("clickhouse runs %s, not ClickHouse 24.x", ch)
	}
	// Kafka keeps its log on its volume.
	if dirs := kafka.Environment["KAFKA_LOG_DIRS"]; dirs == "" || !underVolume(kafka, dirs) {
		t.Errorf("kafka's log dirs %q are not on a volume", dirs)
	}
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
				if _, ok := c.Volumes[src]; !ok {
					t.Errorf("service %s mounts volume %s, which is not declared", name, src)
				}
			}
		}
		if !s.hazelnut() {
			continue
		}
		if b := s.Environment["HAZELNUT_KAFKA_BROKERS"]; !strings.Contains(kafka.Environment["KAFKA_ADVERTISED_LISTENERS"], "://"+b) {
			t.Errorf("service %s connects to %s, which kafka does not advertise (%s)", name, b, kafka.Environment["KAFKA_ADVERTISED_LISTENERS"])
		}
		switch role(s) {
		case "":
			t.Errorf("service %s names no role", name)
		case "processor", "gateway", "postback", "sink":
			if data := s.Environment["HAZELNUT_DATA"]; !underVolume(s, data) {
				t.Errorf("service %s keeps its state in %q, which is not on a volume", name, data)
			}
			if dep, ok := s.DependsOn["topics"]; !ok || dep.Condition != "service_completed_successfully" {
				t.Errorf("service %s starts before `topics apply` has succeeded", name)
			}
		}
		if role(s) == "processor" && s.Environment["HAZELNUT_INSTANCE_ID"] == "" {
			t.Errorf("processor service %s has no HAZELNUT_INSTANCE_ID (static group membership)", name)
		}
	}
	if tp := c.Services["topics"]; !slices.Equal(tp.Command, []string{"topics", "apply"}) {
		t.Errorf("the topics service runs %v, not `topics apply`", tp.Command)
	}
}

// role is the subcommand a Hazelnut service runs.
func role(s composeService) string {
	if len(s.Command) == 0 {
		return ""
	}
	return s.Command[0]
}

// underVolume reports whether dir is a volume's mount point or below one.
func underVolume(s composeService, dir string) bool {
	if dir == "" {
		return false
	}
	dir = path.Clean(dir)
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			continue
		}
		target := path.Clean(parts[1])
		if dir == target || strings.HasPrefix(dir, target+"/") {
			return true
		}
	}
	return false
}

// Compose itself accepts the file, where the compose plugin is installed.
func TestComposeConfigValid(t *testing.T) {
	if err := exec.Command("docker", "compose", "version").Run(); err != nil {
		t.Logf("docker compose config not run: `docker compose version` failed (%v); the parsing checks above still ran", err)
		return
	}
	cmd := exec.Command("docker", "compose", "-f", "docker-compose.yml", "config", "-q")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("docker compose config -q: %v\n%s", err, out)
	}
}
