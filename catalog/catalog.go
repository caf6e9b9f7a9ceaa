package catalog

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
)

// Project is one app (or app family) whose installs Hazelnut attributes.
type Project struct {
	ID   string
	Name string
	// Token is the client token SDKs send in request bodies.
	Token string
	// ServerKey authenticates the server API (header linkrunner-key).
	ServerKey string
	// Signing is the project's SDK request signing per platform; nil
	// when the source of the project does not hold signing keys.
	Signing map[Platform]Signing
	// WebKeys are the web collector's keys (PrivateKey empty when the
	// source could not open it).
	WebKeys []WebKey
}

// WebKey returns the project's active web collector key with id kid.
func (p Project) WebKey(kid string) (WebKey, bool) {
	for _, k := range p.WebKeys {
		if k.Active && k.KeyID == kid && k.PrivateKey != "" {
			return k, true
		}
	}
	return WebKey{}, false
}

// Static is an immutable catalog held in memory. Safe for concurrent use.
type Static struct {
	byToken  map[[32]byte]Project
	byWebKey map[string]Project
}

// NewStatic builds a catalog of the given projects. Ids and tokens must be
// unique and non-empty, and so must web collector key ids.
func NewStatic(projects ...Project) (*Static, error) {
	s := &Static{byToken: map[[32]byte]Project{}, byWebKey: map[string]Project{}}
	ids := map[string]bool{}
	for _, p := range projects {
		if p.ID == "" || p.Token == "" {
			return nil, errors.New("catalog: project needs an id and a token")
		}
		if ids[p.ID] {
			return nil, fmt.Errorf("catalog: project %s listed twice", p.ID)
		}
		ids[p.ID] = true
		h := sha256.Sum256([]byte(p.Token))
		if _, dup := s.byToken[h]; dup {
			return nil, fmt.Errorf("catalog: project %s reuses another project's token", p.ID)
		}
		s.byToken[h] = p
		for _, k := range p.WebKeys {
			if other, dup := s.byWebKey[k.KeyID]; dup && other.ID != p.ID {
				return nil, fmt.Errorf("catalog: project %s reuses project %s's web collector key id %q", p.ID, other.ID, k.KeyID)
			}
			s.byWebKey[k.KeyID] = p
		}
	}
	return s, nil
}

// ProjectByWebKey returns the project holding the web collector key kid.
func (s *Static) ProjectByWebKey(kid string) (Project, bool) {
	p, ok := s.byWebKey[kid]
	return p, ok && kid != ""
}

// ProjectByWebKey returns the project holding the web collector key kid
// (false before Build).
func (c *Catalog) ProjectByWebKey(kid string) (Project, bool) {
	if c.tokens == nil {
		return Project{}, false
	}
	return c.tokens.ProjectByWebKey(kid)
}

// ProjectByToken resolves a client token. Tokens are compared by hash, so
// the lookup time does not depend on how much of a token matches.
func (s *Static) ProjectByToken(token string) (Project, bool) {
	if token == "" {
		return Project{}, false
	}
	h := sha256.Sum256([]byte(token))
	p, ok := s.byToken[h]
	if !ok || subtle.ConstantTimeCompare([]byte(p.Token), []byte(token)) != 1 {
		return Project{}, false
	}
	return p, true
}
