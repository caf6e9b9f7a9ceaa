package catalog

import (
	"testing"
	"time"
)

func TestStatic(t *testing.T) {
	c, err := NewStatic(Project{ID: "a", Token: "ta"}, Project{ID: "b", Token: "tb"})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := c.ProjectByToken("tb"); !ok || p.ID != "b" {
		t.Errorf("tb → %+v %v", p, ok)
	}
	for _, bad := range []string{"", "t", "ta ", "TA"} {
		if _, ok := c.ProjectByToken(bad); ok {
			t.Errorf("token %q accepted", bad)
		}
	}
	for _, ps := range [][]Project{
		{{ID: "a", Token: "x"}, {ID: "a", Token: "y"}},
		{{ID: "a", Token: "x"}, {ID: "b", Token: "x"}},
		{{ID: "", Token: "x"}},
		{{ID: "a"}},
	} {
		if _, err := NewStatic(ps...); err == nil {
			t.Errorf("accepted %+v", ps)
		}
	}
}

// A display id resolves to the campaign using it at the time asked: a
// campaign with a scheduled end until it ends, then the one taking it over.
func TestCampaignByDisplayIDAt(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	old, err := NewHistory(Span[CampaignSpec]{From: day(1), Until: day(10), Value: CampaignSpec{Name: "Old", DisplayID: "promo"}})
	if err != nil {
		t.Fatal(err)
	}
	next, err := NewHistory(Span[CampaignSpec]{From: day(10), Value: CampaignSpec{Name: "New", DisplayID: "promo"}})
	if err != nil {
		t.Fatal(err)
	}
	c := &Catalog{
		Projects:  []ProjectRecord{{ID: "p", Name: "P", Secrets: Secrets{Token: "client-token-0123456789", ServerKey: "server-key-0123456789"}}},
		Campaigns: []Campaign{{ID: "c-old", ProjectID: "p", Spec: old}, {ID: "c-new", ProjectID: "p", Spec: next}},
	}
	if err := c.Build(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{{day(5), "c-old"}, {day(10), "c-new"}, {day(20), "c-new"}, {day(1).Add(-time.Hour), ""}} {
		id, _, _, ok, _ := c.CampaignByDisplayIDAt("promo", tc.at)
		if id != tc.want || ok != (tc.want != "") {
			t.Errorf("at %s: %q %v, want %q", tc.at.Format(time.DateOnly), id, ok, tc.want)
		}
	}
}
