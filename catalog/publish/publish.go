// Package publish is the catalog writer: it publishes a catalog snapshot
// (read from Postgres) to the compacted topic `catalog` (DESIGN §3, §8).
//
// Every entity becomes one entry keyed "<kind>:<id>" that carries its dated
// history back to the replay horizon. The writer first reads the topic to
// its end and never replaces an entry with a lower version (an equal
// version is left alone), so an old snapshot published late cannot undo a
// newer one. Tokens and server keys are keyed by their SHA-256; their
// entries say only which project they belong to. Rotated tokens and keys
// are tombstoned, and nothing else ever is. No third-party credential
// (analytics tools, Meta's referrer key, network accounts, webhooks) is
// ever written. SDK signing secrets, which gateways need to verify
// requests, and web collector private keys, which open sealed web bodies,
// are written only sealed with the catalog key (WithSealer); without one,
// only each platform's enforce flag and the key ids are. Each web
// collector key id also gets an entry webkey:<key id> naming its project
// (key ids are unique across projects); as a key id may move to another
// project, such an entry is refused only when the project it names is
// stale on the topic, whatever the version of the entry it replaces.
//
// Each current campaign with a display id also gets an entry
// display:<display id> naming it, at the campaign's version. Display ids
// are unique among current campaigns but move: one released by a campaign
// (renamed or deleted) may be taken by another of any version. So a
// display entry, like a webkey entry, is refused only when the campaign it
// names is stale on the topic; it is left alone when it names the same
// campaign at the same version. A display entry on the topic that no
// current campaign of the snapshot claims is tombstoned when the snapshot
// knows the campaign it names at least as well as the topic does (that
// campaign released the id); otherwise it is left to a newer snapshot.
// Readers check the named campaign's own spec anyway (views.Catalog), so a
// display entry that outlived its campaign never resolves.
package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"

	"github.com/hazelnut-mmp/hazelnut/catalog"
	"github.com/hazelnut-mmp/hazelnut/codecs"
	"github.com/hazelnut-mmp/hazelnut/stream"
)

// Topic is the catalog topic.
const Topic = "catalog"

// Key returns the topic key of an entry of kind with id.
func Key(kind, id string) string { return kind + ":" + id }

// Skipped is an entry the writer did not publish because the topic holds
// the same or a newer version.
type Skipped struct {
	Key     string
	Version int64
	// OnTopic is the version the topic holds.
	OnTopic int64
}

// Result says what one Publish did.
type Result struct {
	// Published are the keys written.
	Published []string
	// Unchanged are keys whose version equals the topic's (left alone).
	Unchanged []string
	// Stale are entries older than the topic's (refused).
	Stale []Skipped
	// Tombstoned are the keys of rotated tokens and keys removed.
	Tombstoned []string
}

// Option configures Entries and Publish.
type Option func(*options)

type options struct{ sealer *catalog.Sealer }

// WithSealer seals SDK signing secrets into the project entries.
func WithSealer(s *catalog.Sealer) Option { return func(o *options) { o.sealer = s } }

// signingEntry is a project's signing rules with sealed secrets.
func signingEntry(p catalog.ProjectRecord, sealer *catalog.Sealer) map[string]codecs.CatalogSigning {
	if len(p.Secrets.Signing) == 0 {
		return nil
	}
	out := map[string]codecs.CatalogSigning{}
	for pl, sg := range p.Secrets.Signing {
		cs := codecs.CatalogSigning{Enforce: sg.Enforce}
		for _, k := range sg.Keys {
			ck := codecs.CatalogSigningKey{KeyID: k.KeyID, Active: k.Active}
			if sealer != nil && k.Secret != "" {
				ck.Sealed = sealer.Seal(k.Secret, p.ID, k.KeyID)
			}
			cs.Keys = append(cs.Keys, ck)
		}
		out[string(pl)] = cs
	}
	return out
}

// webKeysEntry is a project's web collector keys with sealed private
// keys, bound to (project, "web:"+key id).
func webKeysEntry(p catalog.ProjectRecord, sealer *catalog.Sealer) []codecs.CatalogWebKey {
	var out []codecs.CatalogWebKey
	for _, k := range p.Secrets.WebCollector.Keys {
		ck := codecs.CatalogWebKey{KeyID: k.KeyID, Active: k.Active}
		if sealer != nil && k.PrivateKey != "" {
			ck.Sealed = sealer.Seal(k.PrivateKey, p.ID, catalog.WebKeySealID(k.KeyID))
		}
		out = append(out, ck)
	}
	return out
}

// Entries turns a snapshot into topic entries (key → entry), histories
// trimmed to horizon. It carries no secret in the clear.
func Entries(snapshot *catalog.Catalog, horizon, now time.Time, opts ...Option) (map[string]codecs.CatalogEntry, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	out := map[string]codecs.CatalogEntry{}
	add := func(e codecs.CatalogEntry) {
		e.PublishedAt = now.UTC()
		out[Key(e.Kind, e.ID)] = e
	}
	for _, p := range snapshot.Projects {
		s := p.Settings
		s.Trim(horizon)
		b, err := json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("project %s: %w", p.ID, err)
		}
		add(codecs.CatalogEntry{Kind: codecs.CatalogKindProject, ID: p.ID, Version: p.Version,
			Project: &codecs.CatalogProject{ID: p.ID, Name: p.Name, Settings: b, Signing: signingEntry(p, o.sealer),
				WebKeys: webKeysEntry(p, o.sealer)}})
		for _, k := range p.Secrets.WebCollector.Keys {
			add(codecs.CatalogEntry{Kind: codecs.CatalogKindWebKey, ID: k.KeyID, Version: p.Version,
				Secret: &codecs.CatalogSecret{ProjectID: p.ID, Kind: "web_key"}})
		}
		if p.Secrets.Token != "" {
			add(codecs.CatalogEntry{Kind: codecs.CatalogKindToken, ID: catalog.HashSecret(p.Secrets.Token), Version: p.Version,
				Secret: &codecs.CatalogSecret{ProjectID: p.ID, Kind: string(catalog.KindToken)}})
		}
		if p.Secrets.ServerKey != "" {
			add(codecs.CatalogEntry{Kind: codecs.CatalogKindAPIKey, ID: catalog.HashSecret(p.Secrets.ServerKey), Version: p.Version,
				Secret: &codecs.CatalogSecret{ProjectID: p.ID, Kind: string(catalog.KindServerKey)}})
		}
	}
	for _, c := range snapshot.Campaigns {
		h := c.Spec
		h.Trim(horizon)
		b, err := json.Marshal(h)
		if err != nil {
			return nil, fmt.Errorf("campaign %s: %w", c.ID, err)
		}
		add(codecs.CatalogEntry{Kind: codecs.CatalogKindCampaign, ID: c.ID, Version: c.Version,
			Campaign: &codecs.CatalogCampaign{ID: c.ID, ProjectID: c.ProjectID, Spec: b}})
	}
	for _, c := range snapshot.Campaigns {
		if spec, ok := c.Spec.Current(); ok && spec.DisplayID != "" {
			add(codecs.CatalogEntry{Kind: codecs.CatalogKindDisplay, ID: spec.DisplayID, Version: c.Version,
				Display: &codecs.CatalogDisplay{CampaignID: c.ID, ProjectID: c.ProjectID}})
		}
	}
	for _, d := range snapshot.Domains {
		h := d.Spec
		h.Trim(horizon)
		b, err := json.Marshal(h)
		if err != nil {
			return nil, fmt.Errorf("domain %s: %w", d.Host, err)
		}
		add(codecs.CatalogEntry{Kind: codecs.CatalogKindDomain, ID: d.Host, Version: d.Version,
			Domain: &codecs.CatalogDomain{Host: d.Host, Spec: b}})
	}
	return out, nil
}

// Publish writes snapshot to the catalog topic: see the package comment.
// rotations are the replaced tokens and server keys (pgstore Rotations);
// horizon is the replay horizon histories are trimmed to.
func Publish(ctx context.Context, kafka stream.Kafka, snapshot *catalog.Catalog, rotations []catalog.Rotation, horizon time.Time, opts ...Option) (Result, error) {
	var res Result
	entries, err := Entries(snapshot, horizon, time.Now(), opts...)
	if err != nil {
		return res, fmt.Errorf("publish catalog: %w", err)
	}
	onTopic, owners, err := readTopic(ctx, kafka)
	if err != nil {
		return res, fmt.Errorf("publish catalog: %w", err)
	}

	// A project whose topic entry is newer makes its token and key
	// entries stale too (they carry the project's version).
	staleProject := map[string]bool{}
	for _, p := range snapshot.Projects {
		if v, ok := onTopic[Key(codecs.CatalogKindProject, p.ID)]; ok && v > p.Version {
			staleProject[p.ID] = true
		}
	}
	type record struct {
		key   string
		value []byte
	}
	var out []record
	for _, key := range sortedKeys(entries) {
		e := entries[key]
		cur, exists := onTopic[key]
		stale := exists && cur > e.Version
		if e.Kind == codecs.CatalogKindWebKey {
			// A key id may move to a project of a lower version: only
			// the staleness of the project it now names counts.
			stale = false
		}
		if e.Display != nil {
			// A display id may move to a campaign of a lower version:
			// only the staleness of the campaign it now names counts.
			cv, known := onTopic[Key(codecs.CatalogKindCampaign, e.Display.CampaignID)]
			if stale = known && cv > e.Version; stale {
				cur = cv
			}
			if !stale && exists && owners[key] != e.Display.CampaignID {
				exists = false // another campaign's entry: replace it
			}
		}
		if e.Secret != nil && staleProject[e.Secret.ProjectID] {
			stale = true
			cur = max(cur, onTopic[Key(codecs.CatalogKindProject, e.Secret.ProjectID)])
		}
		switch {
		case stale:
			res.Stale = append(res.Stale, Skipped{Key: key, Version: e.Version, OnTopic: cur})
			continue
		case exists && cur == e.Version:
			res.Unchanged = append(res.Unchanged, key)
			continue
		}
		b, err := json.Marshal(e)
		if err != nil {
			return res, fmt.Errorf("publish catalog: encode %s: %w", key, err)
		}
		out = append(out, record{key, b})
		res.Published = append(res.Published, key)
	}
	// Tombstones: rotated hashes still on the topic and not the current
	// token or key of any project of the snapshot.
	seen := map[string]bool{}
	for _, r := range rotations {
		kind := codecs.CatalogKindToken
		if r.Kind == catalog.KindServerKey {
			kind = codecs.CatalogKindAPIKey
		}
		key := Key(kind, r.SHA256)
		if seen[key] {
			continue
		}
		seen[key] = true
		if _, live := entries[key]; live {
			continue
		}
		if _, exists := onTopic[key]; !exists {
			continue
		}
		out = append(out, record{key, nil})
		res.Tombstoned = append(res.Tombstoned, key)
	}
	// Display ids no current campaign of the snapshot claims: removed
	// when the snapshot knows the campaign they name at least as well as
	// the topic does.
	versions := map[string]int64{}
	for _, c := range snapshot.Campaigns {
		versions[c.ID] = c.Version
	}
	for _, key := range sortedKeys(owners) {
		if _, live := entries[key]; live {
			continue
		}
		v, known := versions[owners[key]]
		if !known || v < onTopic[Key(codecs.CatalogKindCampaign, owners[key])] {
			continue
		}
		out = append(out, record{key, nil})
		res.Tombstoned = append(res.Tombstoned, key)
	}
	if len(out) == 0 {
		return res, nil
	}

	producer, err := sarama.NewSyncProducer(kafka.Brokers, kafka.ProducerConfig(kafka.ClientID("catalog-writer")))
	if err != nil {
		return Result{}, fmt.Errorf("publish catalog: producer: %w", err)
	}
	defer producer.Close()
	msgs := make([]*sarama.ProducerMessage, len(out))
	for i, r := range out {
		m := &sarama.ProducerMessage{Topic: Topic, Key: sarama.StringEncoder(r.key)}
		if r.value != nil {
			m.Value = sarama.ByteEncoder(r.value)
		}
		msgs[i] = m
	}
	if err := producer.SendMessages(msgs); err != nil {
		return Result{}, fmt.Errorf("publish catalog: %w", err)
	}
	return res, ctx.Err()
}

// ReadVersions reads the catalog topic to its end and returns the version
// of every entry on it (key → version); tombstoned keys are absent.
func ReadVersions(ctx context.Context, kafka stream.Kafka) (map[string]int64, error) {
	v, _, err := readTopic(ctx, kafka)
	return v, err
}

// readTopic is ReadVersions plus the campaign each display entry names
// (key → campaign id).
func readTopic(ctx context.Context, kafka stream.Kafka) (map[string]int64, map[string]string, error) {
	// A view can stop right after it reported running (a broker connection
	// dropped while it caught up): its partitions then refuse to be read.
	// That read is tried again with a new view; other errors are returned.
	var errs []error
	for attempt := 0; attempt < 3; attempt++ {
		out, owners, retry, err := readTopicOnce(ctx, kafka)
		if err == nil || !retry || ctx.Err() != nil {
			return out, owners, err
		}
		errs = append(errs, err)
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	return nil, nil, errors.Join(errs...)
}

// readTopicOnce reads the topic through one view; retry reports that the
// view stopped before it could be read.
func readTopicOnce(ctx context.Context, kafka stream.Kafka) (_ map[string]int64, _ map[string]string, retry bool, _ error) {
	view, err := goka.NewView(kafka.Brokers, goka.Table(Topic), new(codec.Bytes),
		kafka.ViewOptions("catalog-writer", storage.MemoryBuilder(), 1)...)
	if err != nil {
		return nil, nil, false, fmt.Errorf("read catalog topic: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- view.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-view.WaitRunning():
	case err := <-done:
		done <- err
		if err == nil {
			err = ctx.Err()
		}
		return nil, nil, true, fmt.Errorf("read catalog topic: %w", errors.Join(err, errors.New("stopped before it recovered")))
	case <-ctx.Done():
		return nil, nil, false, fmt.Errorf("read catalog topic: %w", ctx.Err())
	}
	it, err := view.Iterator()
	if err != nil {
		return nil, nil, true, fmt.Errorf("read catalog topic: %w", err)
	}
	defer it.Release()
	out, owners := map[string]int64{}, map[string]string{}
	for it.Next() {
		v, err := it.Value()
		if err != nil {
			return nil, nil, false, fmt.Errorf("read catalog topic: %s: %w", it.Key(), err)
		}
		b, _ := v.([]byte)
		if b == nil {
			continue
		}
		var e struct {
			Version int64                  `json:"version"`
			Display *codecs.CatalogDisplay `json:"display"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			// A value the writer cannot read is replaced.
			out[it.Key()] = -1
			continue
		}
		out[it.Key()] = e.Version
		if e.Display != nil {
			owners[it.Key()] = e.Display.CampaignID
		}
	}
	if err := it.Err(); err != nil {
		return nil, nil, false, fmt.Errorf("read catalog topic: %w", err)
	}
	// The view must still run: a partition that stopped while it was read
	// may have been read only in part.
	select {
	case err := <-done:
		done <- err
		return nil, nil, true, fmt.Errorf("read catalog topic: the view stopped while it was read: %v", err)
	default:
	}
	return out, owners, false, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
