// Package pgstore keeps the catalog in PostgreSQL (15 or newer): the schema
// (embedded goose migrations, Migrate), whole-entity writes for `catalog
// seed` (Put*, Seed), read-modify-write updates for the catalog writer and
// admin tools (Update*, Set*, Delete*, Rotate*), and reads (Catalog lists
// everything for publishing).
//
// Every write of an entity runs in a transaction holding the entity's row
// lock and bumps its version, unless the entity did not change: writing an
// equal value is a no-op, so seeding the same file twice bumps nothing.
// Dated settings are catalog.History values stored as jsonb; a delete ends
// the open span and keeps the row. Replacing a token or server key (by a
// rotation or a seed) records the old value's SHA-256 in rotated_secrets.
package pgstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hazelnut-mmp/hazelnut/catalog"
)

// ErrNotFound is returned for an entity that does not exist.
var ErrNotFound = errors.New("not found")

// Store is the Postgres catalog. Safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to the database at url. It does not migrate.
func Open(ctx context.Context, url string) (*Store, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("catalog store: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("catalog store: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Close closes the connections.
func (s *Store) Close() { s.pool.Close() }

// inTx runs fn in a transaction, committing when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// kind describes how one entity type maps to its table.
type kind[T any] struct {
	name  string
	table string
	// keyCols identify a row; cols are every column written (keys first).
	keyCols, cols []string
	key           func(T) []any
	args          func(T) ([]any, error)
	// scan reads "version, cols..." into a T.
	scan     func(pgx.Row) (T, error)
	version  func(*T) *int64
	validate func(T) error
	// changed runs in the write's transaction before a changed value is
	// written (old is nil for an insert).
	changed func(ctx context.Context, tx pgx.Tx, old *T, nu T) error
}

func (k kind[T]) where(offset int) string {
	var parts []string
	for i, c := range k.keyCols {
		parts = append(parts, fmt.Sprintf("%s = $%d", c, offset+i+1))
	}
	return strings.Join(parts, " AND ")
}

func (k kind[T]) selectSQL() string {
	return "SELECT version, " + strings.Join(k.cols, ", ") + " FROM " + k.table
}

func (k kind[T]) get(ctx context.Context, q pgx.Tx, key []any, lock bool) (T, error) {
	sql := k.selectSQL() + " WHERE " + k.where(0)
	if lock {
		sql += " FOR UPDATE"
	}
	v, err := k.scan(q.QueryRow(ctx, sql, key...))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, fmt.Errorf("%s %v: %w", k.name, keyString(key), ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("%s %v: %w", k.name, keyString(key), err)
	}
	return v, nil
}

func keyString(key []any) string {
	var parts []string
	for _, k := range key {
		parts = append(parts, fmt.Sprint(k))
	}
	return strings.Join(parts, ":")
}

// write stores nu: an insert at version 1, or an update at the stored
// version + 1 when nu differs from the stored value; an equal value is not
// written. It returns what is stored.
func (k kind[T]) write(ctx context.Context, tx pgx.Tx, nu T) (T, error) {
	if err := k.validate(nu); err != nil {
		return nu, fmt.Errorf("%s %v: %w", k.name, keyString(k.key(nu)), err)
	}
	cur, err := k.get(ctx, tx, k.key(nu), true)
	found := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nu, err
	}
	if found {
		*k.version(&nu) = *k.version(&cur)
		if same(cur, nu) {
			return cur, nil
		}
		*k.version(&nu) = *k.version(&cur) + 1
	} else {
		*k.version(&nu) = 1
	}
	if k.changed != nil {
		var old *T
		if found {
			old = &cur
		}
		if err := k.changed(ctx, tx, old, nu); err != nil {
			return nu, err
		}
	}
	args, err := k.args(nu)
	if err != nil {
		return nu, fmt.Errorf("%s %v: %w", k.name, keyString(k.key(nu)), err)
	}
	args = append(args, *k.version(&nu))
	var sql string
	if found {
		var sets []string
		for i, c := range k.cols {
			sets = append(sets, fmt.Sprintf("%s = $%d", c, i+1))
		}
		sql = fmt.Sprintf("UPDATE %s SET %s, version = $%d, revision = nextval('catalog_revision'), updated_at = now() WHERE %s",
			k.table, strings.Join(sets, ", "), len(k.cols)+1, k.where(len(k.cols)+1))
		args = append(args, k.key(nu)...)
	} else {
		var ph []string
		for i := range len(k.cols) + 1 {
			ph = append(ph, fmt.Sprintf("$%d", i+1))
		}
		sql = fmt.Sprintf("INSERT INTO %s (%s, version, revision) VALUES (%s, nextval('catalog_revision'))",
			k.table, strings.Join(k.cols, ", "), strings.Join(ph, ", "))
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return nu, fmt.Errorf("%s %v: %w", k.name, keyString(k.key(nu)), err)
	}
	return nu, nil
}

// update applies fn to the stored value under its row lock and writes the
// result (nothing when fn changed nothing).
func (k kind[T]) update(ctx context.Context, tx pgx.Tx, key []any, fn func(*T) error) (T, error) {
	cur, err := k.get(ctx, tx, key, true)
	if err != nil {
		return cur, err
	}
	nu, err := clone(cur)
	if err != nil {
		return cur, err
	}
	if err := fn(&nu); err != nil {
		return cur, fmt.Errorf("%s %v: %w", k.name, keyString(key), err)
	}
	if keyString(k.key(nu)) != keyString(key) {
		return cur, fmt.Errorf("%s %v: an update cannot change the key", k.name, keyString(key))
	}
	return k.write(ctx, tx, nu)
}

func (k kind[T]) list(ctx context.Context, q pgx.Tx) ([]T, error) {
	rows, err := q.Query(ctx, k.selectSQL()+" ORDER BY "+strings.Join(k.keyCols, ", "))
	if err != nil {
		return nil, fmt.Errorf("%s list: %w", k.name, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := k.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s list: %w", k.name, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s list: %w", k.name, err)
	}
	return out, nil
}

// same reports whether a and b encode alike (maps encode sorted).
func same(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// clone deep-copies v through JSON (the form it is stored in).
func clone[T any](v T) (T, error) {
	var out T
	b, err := json.Marshal(v)
	if err != nil {
		return out, err
	}
	err = json.Unmarshal(b, &out)
	return out, err
}

func jsonArg(v any) ([]byte, error) { return json.Marshal(v) }

// scanJSON scans plain columns, then jsonb columns into js.
func scanJSON(row pgx.Row, plain []any, js ...any) error {
	raw := make([][]byte, len(js))
	dst := append([]any(nil), plain...)
	for i := range raw {
		dst = append(dst, &raw[i])
	}
	if err := row.Scan(dst...); err != nil {
		return err
	}
	for i, b := range raw {
		if b == nil {
			continue
		}
		if err := json.Unmarshal(b, js[i]); err != nil {
			return err
		}
	}
	return nil
}

var projects = kind[catalog.ProjectRecord]{
	name:    "project",
	table:   "projects",
	keyCols: []string{"id"},
	cols: []string{"id", "name", "token", "server_key", "meta_install_referrer_key",
		"sdk_signing", "webhook", "analytics", "settings", "web_collector"},
	key: func(p catalog.ProjectRecord) []any { return []any{p.ID} },
	args: func(p catalog.ProjectRecord) ([]any, error) {
		out := []any{p.ID, p.Name, p.Secrets.Token, p.Secrets.ServerKey, p.Secrets.MetaInstallReferrerKey}
		for _, v := range []any{p.Secrets.Signing, p.Secrets.Webhook, p.Secrets.Analytics, p.Settings, p.Secrets.WebCollector} {
			b, err := jsonArg(v)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
		return out, nil
	},
	scan: func(row pgx.Row) (catalog.ProjectRecord, error) {
		var p catalog.ProjectRecord
		err := scanJSON(row, []any{&p.Version, &p.ID, &p.Name, &p.Secrets.Token, &p.Secrets.ServerKey, &p.Secrets.MetaInstallReferrerKey},
			&p.Secrets.Signing, &p.Secrets.Webhook, &p.Secrets.Analytics, &p.Settings, &p.Secrets.WebCollector)
		return p, err
	},
	version:  func(p *catalog.ProjectRecord) *int64 { return &p.Version },
	validate: catalog.ProjectRecord.Validate,
	changed: func(ctx context.Context, tx pgx.Tx, old *catalog.ProjectRecord, nu catalog.ProjectRecord) error {
		if err := indexWebKeys(ctx, tx, nu); err != nil {
			return err
		}
		if old == nil {
			return nil
		}
		for _, r := range []struct {
			kind     catalog.Kind
			old, new string
		}{{catalog.KindToken, old.Secrets.Token, nu.Secrets.Token}, {catalog.KindServerKey, old.Secrets.ServerKey, nu.Secrets.ServerKey}} {
			if r.old == r.new {
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO rotated_secrets (project_id, kind, sha256) VALUES ($1, $2, $3)
				ON CONFLICT (kind, sha256) DO UPDATE SET project_id = EXCLUDED.project_id, rotated_at = now()`,
				nu.ID, string(r.kind), catalog.HashSecret(r.old)); err != nil {
				return fmt.Errorf("project %s: record rotation: %w", nu.ID, err)
			}
		}
		return nil
	},
}

// ErrWebKeyTaken is returned when a web collector key id is already
// another project's (key ids are unique across projects).
var ErrWebKeyTaken = errors.New("web collector key id belongs to another project")

// indexWebKeys makes web_collector_keys list exactly p's key ids for p,
// refusing an id another project holds.
func indexWebKeys(ctx context.Context, tx pgx.Tx, p catalog.ProjectRecord) error {
	for _, k := range p.Secrets.WebCollector.Keys {
		var other string
		err := tx.QueryRow(ctx, `SELECT project_id FROM web_collector_keys WHERE key_id = $1 AND project_id <> $2`,
			k.KeyID, p.ID).Scan(&other)
		if err == nil {
			return fmt.Errorf("project %s: web_collector key_id %q: %w (%s)", p.ID, k.KeyID, ErrWebKeyTaken, other)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("project %s: web collector keys: %w", p.ID, err)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM web_collector_keys WHERE project_id = $1`, p.ID); err != nil {
		return fmt.Errorf("project %s: web collector keys: %w", p.ID, err)
	}
	for _, k := range p.Secrets.WebCollector.Keys {
		if _, err := tx.Exec(ctx, `INSERT INTO web_collector_keys (key_id, project_id) VALUES ($1, $2)`, k.KeyID, p.ID); err != nil {
			return fmt.Errorf("project %s: web_collector key_id %q: %w", p.ID, k.KeyID, err)
		}
	}
	return nil
}

// currentOrNil is the current value's field, or nil once ended.
func currentOrNil[T any](h catalog.History[T], field func(T) string) any {
	if v, ok := h.Current(); ok {
		return field(v)
	}
	return nil
}

var campaigns = kind[catalog.Campaign]{
	name:    "campaign",
	table:   "campaigns",
	keyCols: []string{"id"},
	cols:    []string{"id", "project_id", "display_id", "spec"},
	key:     func(c catalog.Campaign) []any { return []any{c.ID} },
	args: func(c catalog.Campaign) ([]any, error) {
		spec, err := jsonArg(c.Spec)
		return []any{c.ID, c.ProjectID, currentOrNil(c.Spec, func(s catalog.CampaignSpec) string { return s.DisplayID }), spec}, err
	},
	scan: func(row pgx.Row) (catalog.Campaign, error) {
		var c catalog.Campaign
		var display *string
		err := scanJSON(row, []any{&c.Version, &c.ID, &c.ProjectID, &display}, &c.Spec)
		return c, err
	},
	version:  func(c *catalog.Campaign) *int64 { return &c.Version },
	validate: catalog.Campaign.Validate,
}

var domains = kind[catalog.Domain]{
	name:    "domain",
	table:   "domains",
	keyCols: []string{"host"},
	cols:    []string{"host", "project_id", "spec"},
	key:     func(d catalog.Domain) []any { return []any{d.Host} },
	args: func(d catalog.Domain) ([]any, error) {
		spec, err := jsonArg(d.Spec)
		return []any{d.Host, currentOrNil(d.Spec, func(s catalog.DomainSpec) string { return s.ProjectID }), spec}, err
	},
	scan: func(row pgx.Row) (catalog.Domain, error) {
		var d catalog.Domain
		var project *string
		err := scanJSON(row, []any{&d.Version, &d.Host, &project}, &d.Spec)
		return d, err
	},
	version:  func(d *catalog.Domain) *int64 { return &d.Version },
	validate: catalog.Domain.Validate,
}

var accounts = kind[catalog.NetworkAccount]{
	name:    "network account",
	table:   "network_accounts",
	keyCols: []string{"id"},
	cols:    []string{"id", "project_id", "network", "credentials"},
	key:     func(a catalog.NetworkAccount) []any { return []any{a.ID} },
	args: func(a catalog.NetworkAccount) ([]any, error) {
		creds, err := jsonArg(a.Credentials)
		return []any{a.ID, a.ProjectID, a.Network, creds}, err
	},
	scan: func(row pgx.Row) (catalog.NetworkAccount, error) {
		var a catalog.NetworkAccount
		err := scanJSON(row, []any{&a.Version, &a.ID, &a.ProjectID, &a.Network}, &a.Credentials)
		return a, err
	},
	version:  func(a *catalog.NetworkAccount) *int64 { return &a.Version },
	validate: catalog.NetworkAccount.Validate,
}

var eventMaps = kind[catalog.EventMap]{
	name:    "event map",
	table:   "event_maps",
	keyCols: []string{"project_id", "network"},
	cols:    []string{"project_id", "network", "events"},
	key:     func(m catalog.EventMap) []any { return []any{m.ProjectID, m.Network} },
	args: func(m catalog.EventMap) ([]any, error) {
		ev, err := jsonArg(m.Events)
		return []any{m.ProjectID, m.Network, ev}, err
	},
	scan: func(row pgx.Row) (catalog.EventMap, error) {
		var m catalog.EventMap
		err := scanJSON(row, []any{&m.Version, &m.ProjectID, &m.Network}, &m.Events)
		return m, err
	},
	version:  func(m *catalog.EventMap) *int64 { return &m.Version },
	validate: catalog.EventMap.Validate,
}

// --- whole-entity writes ---------------------------------------------------

// PutProject stores p as given (its Version is ignored) and returns what is
// stored. An unchanged project keeps its version.
func (s *Store) PutProject(ctx context.Context, p catalog.ProjectRecord) (out catalog.ProjectRecord, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error { out, err = projects.write(ctx, tx, p); return err })
	return out, err
}

// PutCampaign stores c as given; see PutProject.
func (s *Store) PutCampaign(ctx context.Context, c catalog.Campaign) (out catalog.Campaign, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error { out, err = campaigns.write(ctx, tx, c); return err })
	return out, err
}

// PutDomain stores d as given; see PutProject.
func (s *Store) PutDomain(ctx context.Context, d catalog.Domain) (out catalog.Domain, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error { out, err = domains.write(ctx, tx, d); return err })
	return out, err
}

// PutNetworkAccount stores a as given; see PutProject.
func (s *Store) PutNetworkAccount(ctx context.Context, a catalog.NetworkAccount) (out catalog.NetworkAccount, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error { out, err = accounts.write(ctx, tx, a); return err })
	return out, err
}

// PutEventMap stores m as given; see PutProject.
func (s *Store) PutEventMap(ctx context.Context, m catalog.EventMap) (out catalog.EventMap, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error { out, err = eventMaps.write(ctx, tx, m); return err })
	return out, err
}

// SeedResult counts what a Seed wrote.
type SeedResult struct {
	// Written entities were new or changed (their version was bumped);
	// Unchanged ones were left alone.
	Written, Unchanged int
}

// Seed writes every entity of c in one transaction (projects first). It
// adds and updates; entities missing from c are left as they are.
func (s *Store) Seed(ctx context.Context, c *catalog.Catalog) (SeedResult, error) {
	var res SeedResult
	count := func(before, after int64) {
		if before == after {
			res.Unchanged++
		} else {
			res.Written++
		}
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		res = SeedResult{}
		for _, p := range c.Projects {
			old, _ := projects.get(ctx, tx, projects.key(p), false)
			nu, err := projects.write(ctx, tx, p)
			if err != nil {
				return err
			}
			count(old.Version, nu.Version)
		}
		for _, cp := range c.Campaigns {
			old, _ := campaigns.get(ctx, tx, campaigns.key(cp), false)
			nu, err := campaigns.write(ctx, tx, cp)
			if err != nil {
				return err
			}
			count(old.Version, nu.Version)
		}
		for _, d := range c.Domains {
			old, _ := domains.get(ctx, tx, domains.key(d), false)
			nu, err := domains.write(ctx, tx, d)
			if err != nil {
				return err
			}
			count(old.Version, nu.Version)
		}
		for _, a := range c.NetworkAccounts {
			old, _ := accounts.get(ctx, tx, accounts.key(a), false)
			nu, err := accounts.write(ctx, tx, a)
			if err != nil {
				return err
			}
			count(old.Version, nu.Version)
		}
		for _, m := range c.EventMaps {
			old, _ := eventMaps.get(ctx, tx, eventMaps.key(m), false)
			nu, err := eventMaps.write(ctx, tx, m)
			if err != nil {
				return err
			}
			count(old.Version, nu.Version)
		}
		return nil
	})
	if err != nil {
		return SeedResult{}, fmt.Errorf("catalog seed: %w", err)
	}
	return res, nil
}

// --- read-modify-write -----------------------------------------------------

// UpdateProject applies fn to project id under its row lock and stores the
// result; fn must not change the id. Nothing is written (and the version
// stays) when fn changes nothing.
func (s *Store) UpdateProject(ctx context.Context, id string, fn func(*catalog.ProjectRecord) error) (out catalog.ProjectRecord, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error { out, err = projects.update(ctx, tx, []any{id}, fn); return err })
	return out, err
}

// UpdateCampaign is UpdateProject for a campaign.
func (s *Store) UpdateCampaign(ctx context.Context, id string, fn func(*catalog.Campaign) error) (out catalog.Campaign, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error { out, err = campaigns.update(ctx, tx, []any{id}, fn); return err })
	return out, err
}

// UpdateDomain is UpdateProject for a domain.
func (s *Store) UpdateDomain(ctx context.Context, host string, fn func(*catalog.Domain) error) (out catalog.Domain, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error { out, err = domains.update(ctx, tx, []any{host}, fn); return err })
	return out, err
}

// UpdateEventMap is UpdateProject for an event map.
func (s *Store) UpdateEventMap(ctx context.Context, projectID, network string, fn func(*catalog.EventMap) error) (out catalog.EventMap, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		out, err = eventMaps.update(ctx, tx, []any{projectID, network}, fn)
		return err
	})
	return out, err
}

// SetCampaignSpec makes spec campaign id's spec from from on (the open
// span is closed at from).
func (s *Store) SetCampaignSpec(ctx context.Context, id string, from time.Time, spec catalog.CampaignSpec) (catalog.Campaign, error) {
	return s.UpdateCampaign(ctx, id, func(c *catalog.Campaign) error { return c.Spec.Set(from, spec) })
}

// DeleteCampaign ends campaign id at at; the campaign and its history stay.
// Deleting an ended campaign changes nothing.
func (s *Store) DeleteCampaign(ctx context.Context, id string, at time.Time) (catalog.Campaign, error) {
	return s.UpdateCampaign(ctx, id, func(c *catalog.Campaign) error { return endOpen(&c.Spec, at) })
}

// SetDomainSpec makes spec host's spec from from on, creating the domain
// if it does not exist.
func (s *Store) SetDomainSpec(ctx context.Context, host string, from time.Time, spec catalog.DomainSpec) (out catalog.Domain, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		d, err := domains.get(ctx, tx, []any{host}, true)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		d.Host = host
		if err := d.Spec.Set(from, spec); err != nil {
			return fmt.Errorf("domain %s: %w", host, err)
		}
		out, err = domains.write(ctx, tx, d)
		return err
	})
	return out, err
}

// DeleteDomain ends host at at; the domain and its history stay.
func (s *Store) DeleteDomain(ctx context.Context, host string, at time.Time) (catalog.Domain, error) {
	return s.UpdateDomain(ctx, host, func(d *catalog.Domain) error { return endOpen(&d.Spec, at) })
}

// SetEventMap makes events the project's map for network from from on,
// creating the map if it does not exist.
func (s *Store) SetEventMap(ctx context.Context, projectID, network string, from time.Time, events map[string]string) (out catalog.EventMap, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		m, err := eventMaps.get(ctx, tx, []any{projectID, network}, true)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		m.ProjectID, m.Network = projectID, network
		if err := m.Events.Set(from, events); err != nil {
			return fmt.Errorf("event map %s:%s: %w", projectID, network, err)
		}
		out, err = eventMaps.write(ctx, tx, m)
		return err
	})
	return out, err
}

// DeleteEventMap ends the project's map for network at at.
func (s *Store) DeleteEventMap(ctx context.Context, projectID, network string, at time.Time) (catalog.EventMap, error) {
	return s.UpdateEventMap(ctx, projectID, network, func(m *catalog.EventMap) error { return endOpen(&m.Events, at) })
}

// DeleteNetworkAccount removes an account (credentials are current-only
// and never published, so nothing needs its history).
func (s *Store) DeleteNetworkAccount(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM network_accounts WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("network account %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("network account %s: %w", id, ErrNotFound)
	}
	return nil
}

func endOpen[T any](h *catalog.History[T], at time.Time) error {
	if err := h.End(at); err != nil && !errors.Is(err, catalog.ErrNotOpen) {
		return err
	}
	return nil
}

// RotateToken replaces project id's client token; the old token's hash is
// recorded (Rotations).
func (s *Store) RotateToken(ctx context.Context, id, token string) (catalog.ProjectRecord, error) {
	return s.UpdateProject(ctx, id, func(p *catalog.ProjectRecord) error { p.Secrets.Token = token; return nil })
}

// RotateServerKey replaces project id's server key; the old key's hash is
// recorded (Rotations).
func (s *Store) RotateServerKey(ctx context.Context, id, key string) (catalog.ProjectRecord, error) {
	return s.UpdateProject(ctx, id, func(p *catalog.ProjectRecord) error { p.Secrets.ServerKey = key; return nil })
}

// Rotations lists the replaced tokens and server keys (of every project
// when projectID is empty), oldest first.
func (s *Store) Rotations(ctx context.Context, projectID string) ([]catalog.Rotation, error) {
	rows, err := s.pool.Query(ctx, `SELECT project_id, kind, sha256, rotated_at FROM rotated_secrets
		WHERE $1 = '' OR project_id = $1 ORDER BY rotated_at, kind, sha256`, projectID)
	if err != nil {
		return nil, fmt.Errorf("rotations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (catalog.Rotation, error) {
		var r catalog.Rotation
		var k string
		err := row.Scan(&r.ProjectID, &k, &r.SHA256, &r.RotatedAt)
		r.Kind = catalog.Kind(k)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("rotations: %w", err)
	}
	return out, nil
}

// --- reads -----------------------------------------------------------------

func read[T any](ctx context.Context, s *Store, k kind[T], key ...any) (out T, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error { out, err = k.get(ctx, tx, key, false); return err })
	return out, err
}

// Project returns project id.
func (s *Store) Project(ctx context.Context, id string) (catalog.ProjectRecord, error) {
	return read(ctx, s, projects, id)
}

// Campaign returns campaign id.
func (s *Store) Campaign(ctx context.Context, id string) (catalog.Campaign, error) {
	return read(ctx, s, campaigns, id)
}

// CampaignByDisplayID returns the current (not ended) campaign with that
// display id.
func (s *Store) CampaignByDisplayID(ctx context.Context, displayID string) (out catalog.Campaign, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		out, err = campaigns.scan(tx.QueryRow(ctx, campaigns.selectSQL()+" WHERE display_id = $1", displayID))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("campaign with display id %s: %w", displayID, ErrNotFound)
		}
		return err
	})
	return out, err
}

// Domain returns domain host.
func (s *Store) Domain(ctx context.Context, host string) (catalog.Domain, error) {
	return read(ctx, s, domains, host)
}

// NetworkAccount returns network account id.
func (s *Store) NetworkAccount(ctx context.Context, id string) (catalog.NetworkAccount, error) {
	return read(ctx, s, accounts, id)
}

// EventMap returns the project's event map for network.
func (s *Store) EventMap(ctx context.Context, projectID, network string) (catalog.EventMap, error) {
	return read(ctx, s, eventMaps, projectID, network)
}

// Catalog reads the whole catalog in one consistent snapshot, each kind
// ordered by key. It is not built (call Build to index it).
func (s *Store) Catalog(ctx context.Context) (*catalog.Catalog, error) {
	c := &catalog.Catalog{}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if c.Projects, err = projects.list(ctx, tx); err != nil {
			return err
		}
		if c.Campaigns, err = campaigns.list(ctx, tx); err != nil {
			return err
		}
		if c.Domains, err = domains.list(ctx, tx); err != nil {
			return err
		}
		if c.NetworkAccounts, err = accounts.list(ctx, tx); err != nil {
			return err
		}
		c.EventMaps, err = eventMaps.list(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("catalog read: %w", err)
	}
	return c, nil
}
