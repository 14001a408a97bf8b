package authn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// checkJSON validates one JSON value and refuses what encoding/json would
// quietly accept: duplicate member names in an object (the last one would
// win, so a signed token could mean two things), invalid UTF-8 (replaced,
// so two different names could collide) and nesting deeper than 32.
// It allocates only for member names that contain escapes.
func checkJSON(b []byte) error {
	s := jsonScanner{b: b}
	s.ws()
	if err := s.value(0); err != nil {
		return err
	}
	s.ws()
	if s.i != len(s.b) {
		return fmt.Errorf("json: data after the value at offset %d", s.i)
	}
	return nil
}

type jsonScanner struct {
	b []byte
	i int
}

var errJSONEnd = errors.New("json: unexpected end of input")

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) value(depth int) error {
	if s.i >= len(s.b) {
		return errJSONEnd
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		_, _, err := s.str()
		return err
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	default:
		return fmt.Errorf("json: unexpected character at offset %d", s.i)
	}
}

func (s *jsonScanner) lit(want string) error {
	if len(s.b)-s.i < len(want) || string(s.b[s.i:s.i+len(want)]) != want {
		return fmt.Errorf("json: invalid literal at offset %d", s.i)
	}
	s.i += len(want)
	return nil
}

func (s *jsonScanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *jsonScanner) number() error {
	start := s.i
	if s.b[s.i] == '-' {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if s.digits() == 0 {
		return fmt.Errorf("json: invalid number at offset %d", start)
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return fmt.Errorf("json: invalid number at offset %d", start)
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return fmt.Errorf("json: invalid number at offset %d", start)
		}
	}
	return nil
}

// str scans a string starting at its opening quote and returns its raw
// content and whether it holds escapes.
func (s *jsonScanner) str() (raw []byte, escaped bool, err error) {
	start := s.i
	s.i++
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start+1 : s.i]
			s.i++
			if !utf8.Valid(raw) {
				return nil, false, fmt.Errorf("json: invalid UTF-8 in string at offset %d", start)
			}
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			s.i++
			if s.i >= len(s.b) {
				return nil, false, errJSONEnd
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(s.b)-s.i < 5 {
					return nil, false, errJSONEnd
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return nil, false, fmt.Errorf("json: invalid escape at offset %d", s.i)
					}
				}
				s.i += 5
			default:
				return nil, false, fmt.Errorf("json: invalid escape at offset %d", s.i)
			}
		case c < 0x20:
			return nil, false, fmt.Errorf("json: control character in string at offset %d", s.i)
		default:
			s.i++
		}
	}
	return nil, false, errJSONEnd
}

func (s *jsonScanner) array(depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("json: nested deeper than %d", maxJSONDepth)
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if err := s.value(depth); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return errJSONEnd
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return fmt.Errorf("json: expected , or ] at offset %d", s.i)
		}
	}
}

func (s *jsonScanner) object(depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("json: nested deeper than %d", maxJSONDepth)
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	// Names seen so far in this object; tokens have few members, so a
	// linear scan over a stack array beats a map.
	var small [24][]byte
	names := small[:0]
	var many map[string]struct{}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return fmt.Errorf("json: expected a member name at offset %d", s.i)
		}
		at := s.i
		raw, escaped, err := s.str()
		if err != nil {
			return err
		}
		name := raw
		if escaped {
			var unq string
			if err := json.Unmarshal(s.b[at:s.i], &unq); err != nil {
				return fmt.Errorf("json: invalid member name at offset %d", at)
			}
			name = []byte(unq)
		}
		if many != nil {
			if _, dup := many[string(name)]; dup {
				return fmt.Errorf("json: duplicate member name at offset %d", at)
			}
			many[string(name)] = struct{}{}
		} else {
			for _, n := range names {
				if bytes.Equal(n, name) {
					return fmt.Errorf("json: duplicate member name at offset %d", at)
				}
			}
			if len(names) < cap(names) {
				names = append(names, name)
			} else {
				many = make(map[string]struct{}, 2*len(names))
				for _, n := range names {
					many[string(n)] = struct{}{}
				}
				many[string(name)] = struct{}{}
			}
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return fmt.Errorf("json: expected : at offset %d", s.i)
		}
		s.i++
		s.ws()
		if err := s.value(depth); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return errJSONEnd
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return fmt.Errorf("json: expected , or } at offset %d", s.i)
		}
	}
}
