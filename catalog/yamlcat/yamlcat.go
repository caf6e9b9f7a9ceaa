// Package yamlcat reads a catalog from a YAML file (the format of
// docs/catalog.md) into a catalog.Catalog. It is how `hazelnut dev
// --catalog FILE` and tests get a catalog without Postgres, and what
// `hazelnut catalog seed` writes to Postgres. Every problem is reported on
// its own line as FILE:LINE: path: message.
package yamlcat

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hazelnut-mmp/hazelnut/catalog"
)

// Load reads and checks the catalog in the file at path and builds its
// indexes (catalog.Catalog.Build).
func Load(path string) (*catalog.Catalog, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return Parse(path, b)
}

// Parse reads a catalog from b; name is used in messages.
func Parse(name string, b []byte) (*catalog.Catalog, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return build(name, &file{})
		}
		return nil, yamlError(name, err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return nil, fmt.Errorf("%s:%d: only one YAML document is allowed", name, more.Line)
	}
	if errs := checkNode(name, &doc, reflect.TypeFor[file](), ""); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var f file
	if err := doc.Decode(&f); err != nil {
		return nil, yamlError(name, err)
	}
	return build(name, &f)
}

// The file layout. Values (settings, secrets, specs) decode straight into
// catalog types; dated settings are either one value (in effect since
// always) or a list of {from, until, value}.
type file struct {
	Projects        []project  `yaml:"projects"`
	Campaigns       []campaign `yaml:"campaigns"`
	Domains         []domain   `yaml:"domains"`
	NetworkAccounts []account  `yaml:"network_accounts"`
	EventMaps       []eventMap `yaml:"event_maps"`
}

type project struct {
	line            int
	ID              string `yaml:"id"`
	Name            string `yaml:"name"`
	catalog.Secrets `yaml:",inline"`
	Settings        settings `yaml:"settings"`
}

type settings struct {
	Windows      hist[catalog.Windows]    `yaml:"windows"`
	IPMatching   hist[catalog.IPMatching] `yaml:"ip_matching"`
	Reengagement hist[catalog.Duration]   `yaml:"reengagement_window"`
	Fraud        hist[catalog.FraudRules] `yaml:"fraud"`
	SKAN         hist[catalog.SKANRules]  `yaml:"skan"`
	Currency     hist[string]             `yaml:"reporting_currency"`
}

type campaign struct {
	line    int
	ID      string                     `yaml:"id"`
	Project string                     `yaml:"project"`
	Spec    hist[catalog.CampaignSpec] `yaml:"spec"`
}

type domain struct {
	line int
	Host string                   `yaml:"host"`
	Spec hist[catalog.DomainSpec] `yaml:"spec"`
}

type account struct {
	line        int
	ID          string            `yaml:"id"`
	Project     string            `yaml:"project"`
	Network     string            `yaml:"network"`
	Credentials map[string]string `yaml:"credentials"`
}

type eventMap struct {
	line    int
	Project string                  `yaml:"project"`
	Network string                  `yaml:"network"`
	Events  hist[map[string]string] `yaml:"events"`
}

// Each entity remembers its line for messages.
func (p *project) UnmarshalYAML(n *yaml.Node) error {
	type plain project
	p.line = n.Line
	return n.Decode((*plain)(p))
}

func (c *campaign) UnmarshalYAML(n *yaml.Node) error {
	type plain campaign
	c.line = n.Line
	return n.Decode((*plain)(c))
}

func (d *domain) UnmarshalYAML(n *yaml.Node) error {
	type plain domain
	d.line = n.Line
	return n.Decode((*plain)(d))
}

func (a *account) UnmarshalYAML(n *yaml.Node) error {
	type plain account
	a.line = n.Line
	return n.Decode((*plain)(a))
}

func (m *eventMap) UnmarshalYAML(n *yaml.Node) error {
	type plain eventMap
	m.line = n.Line
	return n.Decode((*plain)(m))
}

// hist is a dated setting as written: one value, or a list of versions.
type hist[T any] struct {
	line  int
	spans []span[T]
}

type span[T any] struct {
	line  int
	From  *time.Time `yaml:"from"`
	Until *time.Time `yaml:"until"`
	Value T          `yaml:"value"`
}

func (h *hist[T]) UnmarshalYAML(n *yaml.Node) error {
	h.line = n.Line
	if n.Kind != yaml.SequenceNode {
		var v T
		if err := n.Decode(&v); err != nil {
			return err
		}
		h.spans = []span[T]{{line: n.Line, Value: v}}
		return nil
	}
	for _, item := range n.Content {
		s := span[T]{line: item.Line}
		if err := item.Decode(&s); err != nil {
			return err
		}
		h.spans = append(h.spans, s)
	}
	return nil
}

func (h *hist[T]) valueType() reflect.Type { return reflect.TypeFor[T]() }

// versioned is implemented by hist for checkNode.
type versioned interface{ valueType() reflect.Type }

// history turns the written versions into a catalog.History, reporting
// the line of the first version that does not fit.
func (h hist[T]) history(name, field string) (catalog.History[T], []error) {
	var errs []error
	var spans []catalog.Span[T]
	for i, s := range h.spans {
		sp := catalog.Span[T]{Value: s.Value}
		if s.From != nil {
			sp.From = *s.From
		} else if i > 0 {
			errs = append(errs, fmt.Errorf("%s:%d: %s[%d].from: is required on every version but the first", name, s.line, field, i))
			continue
		}
		if s.Until != nil {
			sp.Until = *s.Until
		}
		try := slices.Clone(spans)
		if n := len(try); n > 0 && try[n-1].Until.IsZero() {
			try[n-1].Until = sp.From // a version without until ends where the next starts
		}
		if _, err := catalog.NewHistory(append(try, sp)...); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s[%d]: %v", name, s.line, field, i, err))
			continue
		}
		spans = append(try, sp)
	}
	out, _ := catalog.NewHistory(spans...)
	return out, errs
}

func build(name string, f *file) (*catalog.Catalog, error) {
	var errs []error
	c := &catalog.Catalog{}
	collect := func(more []error) { errs = append(errs, more...) }
	for _, p := range f.Projects {
		rec := catalog.ProjectRecord{ID: p.ID, Name: p.Name, Secrets: p.Secrets}
		var e1, e2, e3, e4, e5, e6 []error
		rec.Settings.Windows, e1 = p.Settings.Windows.history(name, "settings.windows")
		rec.Settings.IPMatching, e2 = p.Settings.IPMatching.history(name, "settings.ip_matching")
		rec.Settings.Reengagement, e3 = p.Settings.Reengagement.history(name, "settings.reengagement_window")
		rec.Settings.Fraud, e4 = p.Settings.Fraud.history(name, "settings.fraud")
		rec.Settings.SKAN, e5 = p.Settings.SKAN.history(name, "settings.skan")
		rec.Settings.Currency, e6 = p.Settings.Currency.history(name, "settings.reporting_currency")
		collect(slices.Concat(e1, e2, e3, e4, e5, e6))
		c.Projects = append(c.Projects, rec)
	}
	for _, cp := range f.Campaigns {
		spec, e := cp.Spec.history(name, "spec")
		collect(e)
		c.Campaigns = append(c.Campaigns, catalog.Campaign{ID: cp.ID, ProjectID: cp.Project, Spec: spec})
	}
	for _, d := range f.Domains {
		spec, e := d.Spec.history(name, "spec")
		collect(e)
		c.Domains = append(c.Domains, catalog.Domain{Host: d.Host, Spec: spec})
	}
	for _, a := range f.NetworkAccounts {
		c.NetworkAccounts = append(c.NetworkAccounts, catalog.NetworkAccount{ID: a.ID, ProjectID: a.Project,
			Network: a.Network, Credentials: a.Credentials})
	}
	for _, m := range f.EventMaps {
		events, e := m.Events.history(name, "events")
		collect(e)
		c.EventMaps = append(c.EventMaps, catalog.EventMap{ProjectID: m.Project, Network: m.Network, Events: events})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := c.Build(); err != nil {
		line := func(ee *catalog.EntityError) int {
			switch ee.Kind {
			case catalog.EntityProject:
				return f.Projects[ee.Index].line
			case catalog.EntityCampaign:
				return f.Campaigns[ee.Index].line
			case catalog.EntityDomain:
				return f.Domains[ee.Index].line
			case catalog.EntityNetworkAccount:
				return f.NetworkAccounts[ee.Index].line
			case catalog.EntityEventMap:
				return f.EventMaps[ee.Index].line
			}
			return 0
		}
		for _, e := range split(err) {
			var ee *catalog.EntityError
			if errors.As(e, &ee) {
				errs = append(errs, fmt.Errorf("%s:%d: %w", name, line(ee), e))
			} else {
				errs = append(errs, fmt.Errorf("%s: %w", name, e))
			}
		}
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func split(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, split(e)...)
		}
		return out
	}
	return []error{err}
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// yamlError rewrites yaml.v3's "line N: …" messages as "name:N: …".
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var errs []error
	for _, m := range msgs {
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			errs = append(errs, fmt.Errorf("%s:%s: %s", name, sm[1], m[len(sm[0]):]))
		} else {
			errs = append(errs, fmt.Errorf("%s: %s", name, strings.TrimPrefix(m, "yaml: ")))
		}
	}
	return errors.Join(errs...)
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	timeType        = reflect.TypeFor[time.Time]()
	versionedType   = reflect.TypeFor[versioned]()
)

// checkNode walks n against t: unknown fields, a mapping or list where a
// value belongs, and text values (durations) that do not parse are
// reported with their line and path. yaml.v3's own strict mode does not
// reach into custom unmarshalers, hence this walk.
func checkNode(name string, n *yaml.Node, t reflect.Type, path string) []error {
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Tag == "!!null" {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	bad := func(format string, args ...any) []error {
		p := path
		if p == "" {
			p = "top level"
		}
		return []error{fmt.Errorf("%s:%d: %s: %s", name, n.Line, p, fmt.Sprintf(format, args...))}
	}
	if reflect.PointerTo(t).Implements(versionedType) {
		vt := reflect.New(t).Interface().(versioned).valueType()
		if n.Kind != yaml.SequenceNode {
			return checkNode(name, n, vt, path)
		}
		var errs []error
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if item.Kind != yaml.MappingNode {
				errs = append(errs, fmt.Errorf("%s:%d: %s: a version is a mapping with from, until and value", name, item.Line, p))
				continue
			}
			hasValue := false
			for j := 0; j+1 < len(item.Content); j += 2 {
				k, v := item.Content[j], item.Content[j+1]
				switch k.Value {
				case "from", "until":
					errs = append(errs, checkNode(name, v, timeType, p+"."+k.Value)...)
				case "value":
					hasValue = true
					errs = append(errs, checkNode(name, v, vt, p+".value")...)
				default:
					errs = append(errs, fmt.Errorf("%s:%d: %s: unknown field %q (a version has from, until and value)", name, k.Line, p, k.Value))
				}
			}
			if !hasValue {
				errs = append(errs, fmt.Errorf("%s:%d: %s.value: is required", name, item.Line, p))
			}
		}
		return errs
	}
	if t == timeType {
		if n.Kind != yaml.ScalarNode {
			return bad("must be a time like 2025-01-31T00:00:00Z")
		}
		var tm time.Time
		if err := n.Decode(&tm); err != nil {
			return bad("%q is not a time like 2025-01-31T00:00:00Z", n.Value)
		}
		return nil
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		if n.Kind != yaml.ScalarNode {
			return bad("must be a single value")
		}
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			return bad("%v", err)
		}
		return nil
	}
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return bad("must be a mapping")
		}
		fields := map[string]reflect.Type{}
		yamlFields(t, fields)
		var errs []error
		seen := map[string]bool{}
		for j := 0; j+1 < len(n.Content); j += 2 {
			k, v := n.Content[j], n.Content[j+1]
			ft, ok := fields[k.Value]
			if !ok {
				errs = append(errs, fmt.Errorf("%s:%d: %s: unknown field (known: %s)", name, k.Line, join(k.Value),
					strings.Join(slices.Sorted(maps.Keys(fields)), ", ")))
				continue
			}
			if seen[k.Value] {
				errs = append(errs, fmt.Errorf("%s:%d: %s: given twice", name, k.Line, join(k.Value)))
			}
			seen[k.Value] = true
			errs = append(errs, checkNode(name, v, ft, join(k.Value))...)
		}
		return errs
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return bad("must be a mapping")
		}
		var errs []error
		for j := 0; j+1 < len(n.Content); j += 2 {
			errs = append(errs, checkNode(name, n.Content[j+1], t.Elem(), join(n.Content[j].Value))...)
		}
		return errs
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return bad("must be a list")
		}
		var errs []error
		for i, item := range n.Content {
			errs = append(errs, checkNode(name, item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return errs
	default:
		if n.Kind != yaml.ScalarNode {
			return bad("must be a single value, not a %s", kindName(n.Kind))
		}
		return nil
	}
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

// yamlFields collects the yaml names of t's fields (inline ones flattened).
func yamlFields(t reflect.Type, out map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			yamlFields(f.Type, out)
			continue
		}
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
}
