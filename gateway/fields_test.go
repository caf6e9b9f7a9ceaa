package gateway

import (
	"encoding/json"
	"maps"
	"testing"
)

func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{}`, ` { "a" : 1 , "b":[1,{"c":"}"}],"d\"":"x\\"}`, `{"a":{"b":{"c":[]}},"e":null,"f":true,"g":-1.5e3}`,
		`{"idfa":"","gaid":"00000000-0000-0000-0000-000000000000","x":"\u00e9"}`, `{"a":1,"a":2}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want map[string]json.RawMessage
		if json.Unmarshal([]byte(s), &want) != nil || want == nil {
			return
		}
		ms, ok := members([]byte(s))
		if !ok {
			t.Fatalf("valid object %q not split", s)
		}
		got := map[string]json.RawMessage{}
		for _, m := range ms {
			got[m.name()] = m.value
			if err := json.Unmarshal([]byte("{"+string(m.text)+"}"), &map[string]any{}); err != nil {
				t.Fatalf("member text %q is not a key and value: %v", m.text, err)
			}
		}
		if !maps.EqualFunc(got, want, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
			t.Fatalf("members of %q: %v, want %v", s, got, want)
		}
	})
}

func TestDeviceDataDropsEmptyIDs(t *testing.T) {
	in := `{"device_name":"Pixel 8", "idfa":"", "gaid" : "00000000-0000-0000-0000-000000000000","idfv":null,` +
		`"appsetid":"abc","device_id":"","android_id":42,"note":"\"idfa\":\"\"","nested":{"gaid":""},"g\u0061id":""}`
	got, p := deviceData(fields{"device_data": json.RawMessage(in)}, "device_data")
	if p != nil {
		t.Fatal(p)
	}
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	for _, k := range []string{"idfa", "gaid", "idfv", "device_id"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s kept: %s", k, got)
		}
	}
	for _, k := range []string{"device_name", "appsetid", "android_id", "note", "nested"} {
		if _, ok := m[k]; !ok {
			t.Errorf("%s dropped: %s", k, got)
		}
	}
	same := `{"gaid":"38400000-8cf0-11bd-b23e-10b96e40000d"}`
	if got, _ := deviceData(fields{"d": json.RawMessage(same)}, "d"); string(got) != same {
		t.Errorf("unchanged object rewritten: %s", got)
	}
}
