package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// Checks a Problem can name.
const (
	CheckParse      = "parse"      // the line is not a record
	CheckTorn       = "torn"       // the last line of a file is incomplete
	CheckHash       = "hash"       // the record's bytes do not match its hash: it was changed
	CheckChain      = "chain"      // prev is not the hash of the record before
	CheckMissing    = "missing"    // seqs are missing: records were removed
	CheckOrder      = "order"      // a seq is out of place: records were reordered
	CheckDuplicate  = "duplicate"  // a seq appears twice: a record was inserted or copied
	CheckFile       = "file"       // rotated files are out of order, or a file is not where it should be
	CheckCheckpoint = "checkpoint" // a checkpoint's head or count is wrong
	CheckSignature  = "signature"  // a checkpoint's signature is missing, invalid or signs something else
	CheckGap        = "gap"        // the trail declares that a sink lost records
)

// Problem is one thing verification found, located by file and line.
type Problem struct {
	File  string
	Line  int
	Seq   uint64
	Check string
	Msg   string
}

func (p Problem) String() string {
	s := p.File + ":" + strconv.Itoa(p.Line) + ": "
	if p.Seq > 0 {
		s += "seq " + strconv.FormatUint(p.Seq, 10) + ": "
	}
	return s + p.Check + ": " + p.Msg
}

// VerifyOptions configures Verify.
type VerifyOptions struct {
	// JWKS checks checkpoint signatures; nil skips them (and says so).
	JWKS *jose.JSONWebKeySet
	// AllowGaps accepts losses the trail itself declares in gap records.
	AllowGaps bool
}

// Report is what Verify found.
type Report struct {
	Files             []string
	Records           int
	FirstSeq          uint64
	LastSeq           uint64
	Head              string
	Checkpoints       int
	SignaturesValid   int
	SignaturesChecked bool
	// Unsigned counts records after the last checkpoint: chained, not yet signed.
	Unsigned int
	Gaps     int
	Problems []Problem
}

// OK reports whether verification found nothing wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

type entry struct {
	file   string
	fileNo int // index into the files given
	line   int
	rec    *Record
	hashOK bool
	first  bool // the first record of its file
}

// Input is one file's content, for VerifyData.
type Input struct {
	Name string
	Data io.Reader
}

// ExpandPaths turns arguments into the files to verify: files as given, in
// the order given; a directory contributes its *.jsonl and *.jsonl.<N>
// files in rotation order (path.1, path.2, ..., then path itself).
func ExpandPaths(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("audit verify: %w", err)
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		ents, err := os.ReadDir(a)
		if err != nil {
			return nil, fmt.Errorf("audit verify: %w", err)
		}
		type f struct {
			base string
			idx  int
			path string
		}
		var files []f
		for _, e := range ents {
			name := e.Name()
			if !e.Type().IsRegular() || strings.HasPrefix(name, ".") {
				continue
			}
			base, idx := name, int(^uint(0)>>1)
			if i := strings.LastIndex(name, ".jsonl."); i >= 0 {
				n, err := strconv.Atoi(name[i+len(".jsonl."):])
				if err != nil {
					continue
				}
				base, idx = name[:i+len(".jsonl")], n
			} else if !strings.HasSuffix(name, ".jsonl") {
				continue
			}
			files = append(files, f{base, idx, filepath.Join(a, name)})
		}
		slices.SortFunc(files, func(x, y f) int {
			if c := strings.Compare(x.base, y.base); c != 0 {
				return c
			}
			return x.idx - y.idx
		})
		for _, x := range files {
			out = append(out, x.path)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("audit verify: no audit files found")
	}
	return out, nil
}

// Verify checks the chain and checkpoints of files, which hold one trail
// in order (rotated files oldest first).
func Verify(files []string, opts VerifyOptions) (*Report, error) {
	var ins []Input
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("audit verify: %w", err)
		}
		closers = append(closers, f)
		ins = append(ins, Input{Name: name, Data: f})
	}
	return VerifyData(ins, opts)
}

// maxLine bounds one record line.
const maxLine = 4 << 20

// VerifyData is Verify over readers.
func VerifyData(ins []Input, opts VerifyOptions) (*Report, error) {
	rep := &Report{SignaturesChecked: opts.JWKS != nil}
	var entries []*entry
	problem := func(file string, line int, seq uint64, check, format string, args ...any) {
		rep.Problems = append(rep.Problems, Problem{File: file, Line: line, Seq: seq, Check: check, Msg: fmt.Sprintf(format, args...)})
	}
	for fi, in := range ins {
		rep.Files = append(rep.Files, in.Name)
		r := bufio.NewReaderSize(in.Data, 64<<10)
		firstInFile := true
		for n := 1; ; n++ {
			line, err := readLine(r)
			if errors.Is(err, io.EOF) && len(line) == 0 {
				break
			}
			if err != nil && !errors.Is(err, io.EOF) {
				if errors.Is(err, errLongLine) {
					problem(in.Name, n, 0, CheckParse, "line longer than %d bytes", maxLine)
					continue
				}
				return nil, fmt.Errorf("audit verify: %s: %w", in.Name, err)
			}
			if errors.Is(err, io.EOF) {
				problem(in.Name, n, 0, CheckTorn, "the last line is incomplete (a write cut short by a crash; edgegate cuts it at its next start)")
				break
			}
			rec, hashOK, perr := ParseLine(line)
			if perr != nil {
				problem(in.Name, n, 0, CheckParse, "%v", perr)
				continue
			}
			rep.Records++
			entries = append(entries, &entry{file: in.Name, fileNo: fi, line: n, rec: rec, hashOK: hashOK, first: firstInFile})
			firstInFile = false
		}
	}
	at := make(map[uint64][]*entry, len(entries))
	for _, e := range entries {
		at[e.rec.Seq] = append(at[e.rec.Seq], e)
	}
	where := func(e *entry) string { return e.file + ":" + strconv.Itoa(e.line) }

	var prev, lastCkpt *entry
	// reported holds seqs already reported as out of place.
	reported := map[uint64]bool{}
	fileIdx := 0
	sinceCkpt := uint64(0)
	for _, e := range entries {
		r := e.rec
		if !e.hashOK {
			problem(e.file, e.line, r.Seq, CheckHash, "the record was changed: its bytes do not match its hash")
		}
		// Rotation: each file after the first opens with its index.
		switch {
		case prev == nil:
			fileIdx = max(r.File, 1)
		case e.first && e.fileNo != prev.fileNo:
			if r.File == 0 {
				problem(e.file, e.line, r.Seq, CheckFile, "the first record of this file does not open a rotated file (no file index): files are out of order, or records were removed from its start")
			} else if r.File != fileIdx+1 {
				problem(e.file, e.line, r.Seq, CheckFile, "this file has index %d but follows file index %d: files are missing or out of order", r.File, fileIdx)
			}
			fileIdx = max(r.File, fileIdx+1)
		case r.File != 0:
			problem(e.file, e.line, r.Seq, CheckFile, "this record opens file index %d but is in the middle of a file", r.File)
		}
		if prev == nil {
			rep.FirstSeq = r.Seq
			if r.Prev == "" && r.Seq != 1 {
				problem(e.file, e.line, r.Seq, CheckChain, "the record has no prev but is not seq 1")
			}
		} else {
			exp := prev.rec.Seq + 1
			switch {
			case r.Seq == exp:
				if r.Prev != prev.rec.Hash {
					problem(e.file, e.line, r.Seq, CheckChain, "prev does not match the hash of the record before it (%s, seq %d): that record was changed or replaced, or this one was", where(prev), prev.rec.Seq)
				}
			case r.Seq > exp:
				declared := r.Kind == KindGap && r.From <= exp && r.To >= r.Seq-1
				if declared {
					rep.Gaps++
					if !opts.AllowGaps {
						problem(e.file, e.line, r.Seq, CheckGap, "the trail declares that sink %q lost seq %d to %d (%d records); this file lacks seq %d to %d", r.Sink, r.From, r.To, r.Dropped, exp, r.Seq-1)
					}
					break
				}
				var moved, gone []uint64
				for s := exp; s < r.Seq && len(moved)+len(gone) < 1000; s++ {
					if len(at[s]) > 0 {
						moved = append(moved, s)
					} else {
						gone = append(gone, s)
					}
				}
				if len(gone) > 0 {
					problem(e.file, e.line, r.Seq, CheckMissing, "%s missing between %s (seq %d) and here: removed", seqList(gone), where(prev), prev.rec.Seq)
				}
				for _, s := range moved {
					if reported[s] {
						continue
					}
					reported[s] = true
					problem(e.file, e.line, r.Seq, CheckOrder, "seq %d should come before this record but is at %s: records were reordered", s, where(at[s][0]))
				}
			default:
				if first := at[r.Seq][0]; first != e {
					problem(e.file, e.line, r.Seq, CheckDuplicate, "seq %d appears again (first at %s): a record was inserted or copied", r.Seq, where(first))
				} else if !reported[r.Seq] {
					reported[r.Seq] = true
					problem(e.file, e.line, r.Seq, CheckOrder, "seq %d comes after seq %d (%s): records were reordered", r.Seq, prev.rec.Seq, where(prev))
				}
			}
		}
		switch r.Kind {
		case KindCheckpoint:
			rep.Checkpoints++
			if r.Head != r.Prev {
				problem(e.file, e.line, r.Seq, CheckCheckpoint, "head does not match prev")
			}
			if lastCkpt != nil && r.Count != sinceCkpt {
				problem(e.file, e.line, r.Seq, CheckCheckpoint, "count is %d but %d records follow the previous checkpoint (%s): records were added or removed", r.Count, sinceCkpt, where(lastCkpt))
			}
			if opts.JWKS != nil {
				switch {
				case r.Signature == "":
					problem(e.file, e.line, r.Seq, CheckSignature, "the checkpoint is not signed")
				default:
					p, kid, err := verifySignature(r.Signature, opts.JWKS)
					switch {
					case err != nil:
						problem(e.file, e.line, r.Seq, CheckSignature, "%v", err)
					case p.Seq != r.Seq-1 || p.Head != r.Head || p.Count != r.Count:
						problem(e.file, e.line, r.Seq, CheckSignature, "the signature (key %q) signs seq %d head %s count %d, not this checkpoint", kid, p.Seq, short(p.Head), p.Count)
					default:
						rep.SignaturesValid++
					}
				}
			}
			lastCkpt, sinceCkpt = e, 0
		case KindGap:
			if prev == nil || r.Seq == prev.rec.Seq+1 {
				rep.Gaps++
			}
		default:
			sinceCkpt++
		}
		prev = e
	}
	if prev != nil {
		rep.LastSeq, rep.Head = prev.rec.Seq, prev.rec.Hash
		rep.Unsigned = int(sinceCkpt)
	}
	if len(entries) == 0 && len(rep.Problems) == 0 {
		problem(firstName(ins), 0, 0, CheckParse, "no records")
	}
	return rep, nil
}

func firstName(ins []Input) string {
	if len(ins) == 0 {
		return "-"
	}
	return ins[0].Name
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func seqList(s []uint64) string {
	if len(s) == 1 {
		return "seq " + strconv.FormatUint(s[0], 10) + " is"
	}
	if s[len(s)-1]-s[0] == uint64(len(s)-1) {
		return fmt.Sprintf("seq %d to %d are", s[0], s[len(s)-1])
	}
	parts := make([]string, 0, len(s))
	for _, x := range s {
		parts = append(parts, strconv.FormatUint(x, 10))
	}
	return "seqs " + strings.Join(parts, ", ") + " are"
}

var errLongLine = errors.New("line too long")

// readLine returns the next line without its newline; io.EOF with a
// non-empty line means the last line had no newline.
func readLine(r *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		chunk, err := r.ReadSlice('\n')
		out = append(out, chunk...)
		if len(out) > maxLine {
			// Skip the rest of the line.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			return nil, errLongLine
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(out, []byte("\n")), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return out, err
		}
	}
}
