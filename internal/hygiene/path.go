package hygiene

import "unicode/utf8"

// cleanPath checks the raw, still percent-encoded path of an origin-form
// target and returns it decoded, with "." and ".." segments resolved and
// repeated slashes merged; a trailing slash is kept.
//
// Rejected (identity-proxies.md §4.1): invalid percent-encoding; encoded
// '/', '\', ';', NUL or other control characters (decoding them would change
// the segment structure or hide bytes from matchers); raw '\', control
// characters and spaces; invalid UTF-8 after decoding (which includes overlong
// forms such as %C0%AE); ".." above the root; and a segment that is empty,
// "." or ".." once its ";params" are removed (the Tomcat-style /..;x=y/ bypass,
// Envoy GHSA-77x5-xqjg-hprq).
//
// The result never contains "//", a "." or ".." segment, '\' or NUL, and
// cleaning its escaped form gives the result again. A path that needs no
// change is returned as is, without allocating.
func cleanPath(raw string) (string, rule) {
	if raw == "" || raw[0] != '/' {
		return "", ruleTargetForm
	}
	work, high := false, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '%':
			if i+2 >= len(raw) {
				return "", ruleBadPercent
			}
			hi, ok1 := unhex(raw[i+1])
			lo, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 {
				return "", ruleBadPercent
			}
			switch v := hi<<4 | lo; {
			case v == '/':
				return "", ruleEncodedSlash
			case v == '\\':
				return "", ruleEncodedBackslash
			case v == 0:
				return "", ruleEncodedNUL
			case v == ';':
				// Decoding would turn data into a parameter delimiter
				// that origins such as Tomcat act on.
				return "", ruleEncodedSemicolon
			case v < 0x20 || v == 0x7f:
				return "", ruleEncodedControl
			case v >= 0x80:
				high = true
			}
			work = true
			i += 2
		case c == '\\':
			return "", ruleBackslash
		case c <= ' ' || c == 0x7f:
			return "", rulePathChar
		case c >= 0x80:
			high = true
		case c == '/':
			if i+1 < len(raw) && needsSegmentWork(raw[i+1:]) {
				work = true
			}
		}
	}
	if !work {
		if high && !utf8.ValidString(raw) {
			return "", ruleBadUTF8
		}
		return raw, ruleOK
	}

	var stack [256]byte
	var buf []byte
	if len(raw) <= len(stack) {
		buf = stack[:0]
	} else {
		buf = make([]byte, 0, len(raw))
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			hi, _ := unhex(raw[i+1])
			lo, _ := unhex(raw[i+2])
			c = hi<<4 | lo
			i += 2
		}
		buf = append(buf, c)
	}
	if high && !utf8.Valid(buf) {
		return "", ruleBadUTF8
	}

	// Resolve segments in place: the output is never longer than what has
	// been read, so writing at w <= i is safe.
	n := len(buf)
	w := 0
	trailing := false
	for i := 0; i < n; {
		j := i + 1
		for j < n && buf[j] != '/' {
			j++
		}
		seg := buf[i+1 : j]
		dot := isDots(seg)
		switch {
		case len(seg) == 0 || dot == 1:
			// "//" and "/./" add nothing.
		case dot == 2:
			if w == 0 {
				return "", ruleTraversal
			}
			for w > 0 && buf[w-1] != '/' {
				w--
			}
			w-- // the '/' before the removed segment
		default:
			if k := indexByte(seg, ';'); k >= 0 && (k == 0 || isDots(seg[:k]) != 0) {
				return "", ruleParamSegment
			}
			w += copy(buf[w:], buf[i:j])
		}
		trailing = len(seg) == 0 || dot != 0
		i = j
	}
	if w == 0 || trailing {
		buf[w] = '/'
		w++
	}
	return string(buf[:w]), ruleOK
}

// needsSegmentWork reports whether the text after a '/' starts a segment
// that cleanPath must look at: empty, ".", "..", or starting with ';'.
func needsSegmentWork(s string) bool {
	switch s[0] {
	case '/', ';':
		return true
	case '.':
		if len(s) == 1 || s[1] == '/' || s[1] == ';' {
			return true
		}
		if s[1] == '.' && (len(s) == 2 || s[2] == '/' || s[2] == ';') {
			return true
		}
	}
	return false
}

// isDots returns 1 for ".", 2 for "..", 0 otherwise.
func isDots(seg []byte) int {
	switch {
	case len(seg) == 1 && seg[0] == '.':
		return 1
	case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
		return 2
	}
	return 0
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// NormalizePath applies the gateway's path rules to a raw (still
// percent-encoded) path, as Sanitize does: the CLI uses it so that
// `edgegate route` matches exactly what a real request would.
func NormalizePath(raw string) (string, error) {
	p, ru := cleanPath(raw)
	if ru != ruleOK {
		return "", reject(ru, false)
	}
	return p, nil
}
