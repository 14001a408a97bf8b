// Package jsonstr appends JSON string literals for the hand-written
// encoders of the access log and the audit trail. They write one line per
// request, so the common string (ASCII without anything to escape) is
// copied in one append; anything else goes to encoding/json, whose output
// the audit trail's hash chain is defined by.
package jsonstr

import "encoding/json"

// plain marks the bytes encoding/json writes as they are: printable ASCII
// other than '"' and '\\', and other than '<', '>' and '&', which it
// escapes for HTML safety.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

// Append appends s as a JSON string, byte for byte what json.Marshal
// writes for it.
func Append(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plain[s[i]] {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
