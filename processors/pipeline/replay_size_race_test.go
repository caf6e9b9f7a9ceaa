//go:build race

package pipeline_test

// replayScenarios is smaller under the race detector, which slows the
// groups down several times: about 125 installs.
const replayScenarios = 100
