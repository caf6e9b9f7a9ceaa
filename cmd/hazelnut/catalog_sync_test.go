package main

import (
	"testing"
)

// catalog sync checks its settings before connecting to anything.
func TestCatalogSyncConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"nothing set", nil, []string{"catalog", "sync"}, []string{
			"hazelnut: config: --postgres-url (HAZELNUT_POSTGRES_URL): required",
			"hazelnut: config: --brokers (HAZELNUT_KAFKA_BROKERS): required for catalog sync"}},
		{"bad horizon", map[string]string{"HAZELNUT_POSTGRES_URL": "postgres://u@127.0.0.1:1/db", "HAZELNUT_KAFKA_BROKERS": "127.0.0.1:1"},
			[]string{"catalog", "sync", "--horizon", "-1h"},
			[]string{"hazelnut: config: --horizon (HAZELNUT_HORIZON): must be positive"}},
		{"an argument", nil, []string{"catalog", "sync", "x"},
			[]string{`hazelnut: config: hazelnut catalog sync takes no arguments, got ["x"]`}},
	} {
		t.Run(tc.name, func(t *testing.T) { expectConfigError(t, tc.env, tc.args, tc.want) })
	}
}
