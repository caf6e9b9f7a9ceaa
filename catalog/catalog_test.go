package catalog

import "testing"

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
