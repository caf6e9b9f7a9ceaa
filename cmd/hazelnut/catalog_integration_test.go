//go:build integration

package main

import (
	"strings"
	"testing"

	"github.com/hazelnut-mmp/hazelnut/catalog/pgstore/pgtest"
)

// migrate twice, seed twice: the second of each changes nothing.
func TestCatalogCommandsServices(t *testing.T) {
	url := pgtest.NewDatabase(t)
	env := map[string]string{"HAZELNUT_POSTGRES_URL": url}
	const demo = "../../testdata/catalog/demo.yaml"
	for _, step := range []struct {
		args []string
		want string
	}{
		{[]string{"catalog", "migrate"}, "catalog: applied 00001_catalog.sql, 00002_web_collector.sql\n"},
		{[]string{"catalog", "migrate"}, "catalog: schema up to date\n"},
		{[]string{"catalog", "seed", demo}, "catalog: schema up to date\ncatalog: seeded " + demo + ": 8 written, 0 unchanged\n"},
		{[]string{"catalog", "seed", "--postgres-url", url, demo}, "catalog: schema up to date\ncatalog: seeded " + demo + ": 0 written, 8 unchanged\n"},
	} {
		code, out, stderr := runCLI(t, env, step.args...)
		if code != 0 || out != step.want {
			t.Errorf("%s: exit %d\nstdout %q, want %q\nstderr %s", strings.Join(step.args, " "), code, out, step.want, stderr)
		}
	}
}
