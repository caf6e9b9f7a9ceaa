package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// catalogCLI runs the command line with env as the environment.
func catalogCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code = execute(ctx, args, &out, &errb, lookup)
	return code, out.String(), errb.String()
}

// Configuration problems exit 2, one line each, before any connection.
func TestCatalogConfigErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("projects:\n  - id: p\n    tokn: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"migrate without url", nil, []string{"catalog", "migrate"},
			[]string{"hazelnut: config: --postgres-url (HAZELNUT_POSTGRES_URL): required"}},
		{"bad url from env", map[string]string{"HAZELNUT_POSTGRES_URL": "nope://x"}, []string{"catalog", "migrate"},
			[]string{"hazelnut: config: --postgres-url (HAZELNUT_POSTGRES_URL): cannot parse"}},
		{"unknown flag", nil, []string{"catalog", "migrate", "--postgres"},
			[]string{"hazelnut: config: unknown flag: --postgres"}},
		{"migrate with an argument", nil, []string{"catalog", "migrate", "x"},
			[]string{`hazelnut: config: hazelnut catalog migrate takes no arguments, got ["x"]`}},
		{"seed without file", nil, []string{"catalog", "seed", "--postgres-url", "postgres://u@127.0.0.1:1/db"},
			[]string{"hazelnut: config: catalog seed: exactly one FILE is needed"}},
		{"seed bad file and no url", nil, []string{"catalog", "seed", bad}, []string{
			"hazelnut: config: --postgres-url (HAZELNUT_POSTGRES_URL): required",
			"hazelnut: config: " + bad + ":3: projects[0].tokn: unknown field"}},
		{"seed missing file", map[string]string{"HAZELNUT_POSTGRES_URL": "postgres://u@127.0.0.1:1/db"},
			[]string{"catalog", "seed", "missing.yaml"}, []string{"hazelnut: config: catalog: open missing.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := catalogCLI(t, tc.env, tc.args...)
			if code != exitConfig {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitConfig, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("%d lines, want %d:\n%s", len(lines), len(tc.want), stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("no %q in:\n%s", w, stderr)
				}
			}
		})
	}
}

// An unreachable database is a runtime error (exit 1), not a config error.
func TestCatalogUnreachablePostgres(t *testing.T) {
	code, _, stderr := catalogCLI(t, nil, "catalog", "migrate", "--postgres-url", "postgres://u:p@127.0.0.1:1/db?connect_timeout=2")
	if code != 1 || !strings.HasPrefix(stderr, "hazelnut: catalog migrate:") || strings.Contains(stderr, ":p@") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
