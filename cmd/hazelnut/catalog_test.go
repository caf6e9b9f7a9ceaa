package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// expectConfigError runs the command line and checks it exits 2 with
// exactly the wanted lines (each a substring of one line).
func expectConfigError(t *testing.T, env map[string]string, args []string, want []string) {
	t.Helper()
	code, _, stderr := runCLI(t, env, args...)
	if code != exitConfig {
		t.Errorf("exit %d, want %d; stderr:\n%s", code, exitConfig, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != len(want) {
		t.Errorf("%d lines, want %d:\n%s", len(lines), len(want), stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("no %q in:\n%s", w, stderr)
		}
	}
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
		t.Run(tc.name, func(t *testing.T) { expectConfigError(t, tc.env, tc.args, tc.want) })
	}
}

// An unreachable database is a runtime error (exit 1), not a config error.
func TestCatalogUnreachablePostgres(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "catalog", "migrate", "--postgres-url", "postgres://u:p@127.0.0.1:1/db?connect_timeout=2")
	if code != 1 || !strings.HasPrefix(stderr, "hazelnut: catalog migrate:") || strings.Contains(stderr, ":p@") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
