package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/edgegate/edgegate/internal/jsonstr"
)

// Kinds the trail writes itself. Stages may not record them.
const (
	// KindCheckpoint is a signed statement of the chain's head.
	KindCheckpoint Kind = "checkpoint"
	// KindGap says that a sink lost records (a full spool under fail_open,
	// or a sink that failed with no spool to hold its records).
	KindGap Kind = "gap"
	// KindRecovered says that the trail repaired a torn last line at start.
	KindRecovered Kind = "audit.recovered"
)

func reservedKind(k Kind) bool {
	return k == KindCheckpoint || k == KindGap || k == KindRecovered
}

// HashLen is the length of a record hash: SHA-256 in lower-case hex.
const HashLen = 64

// Record is one line of the trail as verify reads it: the event, its place
// in the chain, and the fields of the trail's own records.
type Record struct {
	// Seq numbers records from 1, without gaps, across rotated files.
	Seq uint64 `json:"seq"`
	// Prev is the hash of the record before (empty for the first record
	// of a trail).
	Prev string `json:"prev"`
	// File is the index of the file this record opens (only on the first
	// record of a file after a rotation).
	File int `json:"file,omitempty"`
	Event
	// Head and Count are set on checkpoints: the hash of the record before
	// (the head of the chain it signs) and how many records came since the
	// previous checkpoint.
	Head  string `json:"head,omitempty"`
	Count uint64 `json:"count,omitempty"`
	// Signature is a compact JWS over the checkpoint payload (see
	// CheckpointPayload).
	Signature string `json:"signature,omitempty"`
	// Sink, From, To and Dropped are set on gap records: which sink lost
	// which seqs, and how many.
	Sink    string `json:"sink,omitempty"`
	From    uint64 `json:"from,omitempty"`
	To      uint64 `json:"to,omitempty"`
	Dropped uint64 `json:"dropped,omitempty"`
	// Hash is SHA-256 over the record's canonical bytes (see Canonical).
	Hash string `json:"hash"`
}

// CheckpointPayload is what a checkpoint's JWS signs: the chain up to and
// including seq ends with hash head, and count records came since the
// previous checkpoint.
type CheckpointPayload struct {
	Seq   uint64 `json:"seq"`
	Head  string `json:"head"`
	Count uint64 `json:"count"`
}

// encodeRecord appends the line for r to buf and sets r.Hash: the JSON
// object without the hash is the canonical form, hashed as is; the line is
// that object with ,"hash":"<hex>" spliced in before the closing brace,
// and a newline. The bytes are what encoding/json writes for a Record
// (same field order, omitempty rules and escaping; a test compares the
// two), appended without reflection: the trail encodes every decision on
// the request path (issue #7's CPU budget). On error buf is returned
// unchanged.
func encodeRecord(buf []byte, r *Record) ([]byte, error) {
	start := len(buf)
	b := append(buf, `{"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"prev":`...)
	b = jsonstr.Append(b, r.Prev)
	if r.File != 0 {
		b = append(b, `,"file":`...)
		b = strconv.AppendInt(b, int64(r.File), 10)
	}
	b = append(b, `,"time":"`...)
	var err error
	if b, err = r.Time.AppendText(b); err != nil {
		return buf[:start], fmt.Errorf("encode audit record: time: %w", err)
	}
	b = append(b, `","kind":`...)
	b = jsonstr.Append(b, string(r.Kind))
	b = appendStringField(b, `,"request_id":`, r.RequestID)
	b = appendStringField(b, `,"route":`, r.Route)
	b = appendStringField(b, `,"client_ip":`, r.ClientIP)
	b = appendStringField(b, `,"method":`, r.Method)
	b = appendStringField(b, `,"host":`, r.Host)
	b = appendStringField(b, `,"path":`, r.Path)
	b = appendStringField(b, `,"subject":`, r.Subject)
	b = appendStringField(b, `,"issuer":`, r.Issuer)
	if len(r.Roles) > 0 {
		b = append(b, `,"roles":[`...)
		for i, role := range r.Roles {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonstr.Append(b, role)
		}
		b = append(b, ']')
	}
	b = appendStringField(b, `,"decision":`, r.Decision)
	b = appendStringField(b, `,"reason":`, r.Reason)
	b = appendStringField(b, `,"rule":`, r.Rule)
	b = appendStringField(b, `,"fingerprint":`, r.Fingerprint)
	if len(r.Detail) > 0 {
		// encoding/json writes map keys sorted.
		var arr [8]string
		keys := arr[:0]
		for k := range r.Detail {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, `,"detail":{`...)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonstr.Append(b, k)
			b = append(b, ':')
			b = jsonstr.Append(b, r.Detail[k])
		}
		b = append(b, '}')
	}
	b = appendStringField(b, `,"head":`, r.Head)
	b = appendUintField(b, `,"count":`, r.Count)
	b = appendStringField(b, `,"signature":`, r.Signature)
	b = appendStringField(b, `,"sink":`, r.Sink)
	b = appendUintField(b, `,"from":`, r.From)
	b = appendUintField(b, `,"to":`, r.To)
	b = appendUintField(b, `,"dropped":`, r.Dropped)
	b = append(b, '}')
	sum := sha256.Sum256(b[start:])
	var hx [HashLen]byte
	hex.Encode(hx[:], sum[:])
	r.Hash = string(hx[:])
	b = append(b[:len(b)-1], `,"hash":"`...)
	b = append(b, hx[:]...)
	return append(b, "\"}\n"...), nil
}

func appendStringField(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return jsonstr.Append(append(b, key...), v)
}

func appendUintField(b []byte, key string, v uint64) []byte {
	if v == 0 {
		return b
	}
	return strconv.AppendUint(append(b, key...), v, 10)
}

// Canonical splits a line (without its newline) into the canonical bytes
// that were hashed and the hash it claims. ok is false when the line does
// not end in ,"hash":"<64 hex>"}.
func Canonical(line []byte) (canon []byte, hash string, ok bool) {
	const pre = `,"hash":"`
	n := len(line) - len(pre) - HashLen - 2
	if n < 1 || line[0] != '{' || string(line[n:n+len(pre)]) != pre || string(line[len(line)-2:]) != `"}` {
		return nil, "", false
	}
	h := line[n+len(pre) : len(line)-2]
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return nil, "", false
		}
	}
	canon = make([]byte, 0, n+1)
	canon = append(append(canon, line[:n]...), '}')
	return canon, string(h), true
}

// ParseLine parses one line of the trail and checks that its hash matches
// its bytes. It never re-serializes: the hash is over the bytes as written.
// hashOK is false when the record was changed after it was written.
func ParseLine(line []byte) (r *Record, hashOK bool, err error) {
	canon, hash, ok := Canonical(line)
	if !ok {
		return nil, false, errors.New(`line does not end in ,"hash":"<sha-256 hex>"}`)
	}
	r = new(Record)
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(r); err != nil {
		return nil, false, fmt.Errorf("invalid record JSON: %w", err)
	}
	if dec.More() {
		return nil, false, errors.New("invalid record JSON: data after the object")
	}
	if r.Hash != hash {
		// A duplicate "hash" key inside the object.
		return nil, false, errors.New(`record has more than one "hash" field`)
	}
	if r.Seq == 0 {
		return nil, false, errors.New("record has no seq")
	}
	if r.Prev != "" && !isHash(r.Prev) {
		return nil, false, errors.New("prev is not a sha-256 hex hash")
	}
	sum := sha256.Sum256(canon)
	return r, hex.EncodeToString(sum[:]) == hash, nil
}

func isHash(s string) bool {
	if len(s) != HashLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
