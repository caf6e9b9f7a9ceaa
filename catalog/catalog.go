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
}

// Static is an immutable catalog held in memory. Safe for concurrent use.
type Static struct {
	byToken map[[32]byte]Project
}

// NewStatic builds a catalog of the given projects. Ids and tokens must be
// unique and non-empty.
func NewStatic(projects ...Project) (*Static, error) {
	s := &Static{byToken: map[[32]byte]Project{}}
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
	}
	return s, nil
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
