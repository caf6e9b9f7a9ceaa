// Package stream owns everything Hazelnut needs from Kafka and goka that is
// not a processor's business logic:
//
//   - the one place where sarama configurations are built (Kafka.Sarama) and
//     handed to goka through builder options, per processor, view and
//     emitter, never through goka's global config;
//   - the topic declarations of topics.yaml and their creation (Topics,
//     Kafka.EnsureTopics);
//   - the supervisor that restarts processors, views and emitters with
//     backoff after broker or emit errors (Supervisor);
//   - the in-process broker used by `hazelnut dev` and fast tests (Embedded).
//
// Data does not flow through this package; it only builds and runs the parts
// that carry it.
package stream
