// Package hazelnut holds the files that describe the whole deployment and
// are shared by every role: today the topic declarations (topics.yaml).
package hazelnut

import _ "embed"

// TopicsYAML is topics.yaml as shipped with this build.
//
//go:embed topics.yaml
var TopicsYAML []byte
