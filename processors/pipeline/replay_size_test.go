//go:build !race

package pipeline_test

// replayScenarios is the size of the recorded input: about 310 installs.
const replayScenarios = 250
