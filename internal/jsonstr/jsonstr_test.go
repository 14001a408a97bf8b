package jsonstr

import (
	"encoding/json"
	"testing"
)

func TestAppendMatchesMarshal(t *testing.T) {
	for _, s := range []string{"", "plain", `quo"te`, `back\slash`, "<html>&", "tab\there", "\x00\x1f\x7f", "héllo", "\xff\xfe", "\u2028"} {
		want, _ := json.Marshal(s)
		if got := Append([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("Append(%q) = %s, want x%s", s, got, want)
		}
	}
}

func FuzzAppend(f *testing.F) {
	f.Add("plain")
	f.Add("\"<\xff")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := Append(nil, s); string(got) != string(want) {
			t.Fatalf("Append(%q) = %s, want %s", s, got, want)
		}
	})
}
