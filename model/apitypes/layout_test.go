package apitypes

import "testing"

func TestJSONLayout(t *testing.T) {
	type s struct {
		A string `json:"a"`
		B int    `json:"b,omitempty"`
	}
	for _, tc := range []struct {
		name   string
		fields [][2]string
		want   bool
	}{
		{"same", [][2]string{{"A", "a"}, {"B", "b,omitempty"}}, true},
		{"a field more in the struct", [][2]string{{"A", "a"}}, false},
		{"a field less in the struct", [][2]string{{"A", "a"}, {"B", "b,omitempty"}, {"C", "c"}}, false},
		{"moved", [][2]string{{"B", "b,omitempty"}, {"A", "a"}}, false},
		{"retagged", [][2]string{{"A", "a"}, {"B", "b"}}, false},
	} {
		if got := JSONLayout[s](tc.fields...); got != tc.want {
			t.Errorf("%s: JSONLayout = %v, want %v", tc.name, got, tc.want)
		}
	}
	if JSONLayout[int]() {
		t.Error("JSONLayout of a non-struct is true")
	}
}
