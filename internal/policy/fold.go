package policy

import (
	"fmt"
	"strconv"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
)

// Folding. Each cel-go evaluation has a fixed price (an execution frame
// from a pool, a deferred recover, the result checks) that a route pays
// once per rule: about a fifth of a decision of ten short rules
// (BenchmarkDecideTenRules). So consecutive rules of a route are also
// compiled together into one program that evaluates them in order and
// returns which one held first:
//
//	(r0) ? 1 : (r1) ? 2 : ... : 0
//
// The conditional stops at the first rule that holds, as the rule-by-rule
// loop does, and any rule's error makes the whole program fail; the caller
// then runs the plain loop again, which names the failing rule. A folded
// program therefore decides exactly what the loop decides, at one
// evaluation's overhead.

// foldChunk bounds the rules of one folded program: every conditional
// branch adds a level to the parser's recursion depth (250 by default).
// A chunk that still fails to compile falls back to one step per rule.
const foldChunk = 16

// foldStep evaluates the rules lo..lo+n-1 of a sequence. Exactly one of
// prog (folded, returns the 1-based index of the first rule that holds or
// 0) and single (one rule) is set.
type foldStep struct {
	lo, n  int
	prog   cel.Program
	single *Program
}

// first returns the index of the first rule of the step that holds, or -1.
func (s *foldStep) first(act *activation) (int, error) {
	if s.single != nil {
		ok, err := s.single.evalAct(act)
		if err != nil || !ok {
			return -1, err
		}
		return s.lo, nil
	}
	out, _, err := s.prog.Eval(act)
	if err != nil {
		return -1, err
	}
	k, ok := out.(types.Int)
	if !ok || k < 0 || int(k) > s.n {
		return -1, fmt.Errorf("folded rules returned %v", out)
	}
	if k == 0 {
		return -1, nil
	}
	return s.lo + int(k) - 1, nil
}

// foldSteps groups progs (all of one kind) into steps. Rules metered at
// run time stay alone, so each keeps its own cost limit; the others are
// bounded by their static estimate whether folded or not.
func foldSteps(progs []*Program) []foldStep {
	var steps []foldStep
	flush := func(lo, hi int) {
		for lo < hi {
			n := min(hi-lo, foldChunk)
			if n == 1 {
				steps = append(steps, foldStep{lo: lo, n: 1, single: progs[lo]})
				lo++
				continue
			}
			p, err := compileChain(progs[lo:lo+n], progs[lo].Kind)
			if err != nil {
				for i := lo; i < lo+n; i++ {
					steps = append(steps, foldStep{lo: i, n: 1, single: progs[i]})
				}
			} else {
				steps = append(steps, foldStep{lo: lo, n: n, prog: p})
			}
			lo += n
		}
	}
	start := 0
	for i, p := range progs {
		if p.metered {
			flush(start, i)
			steps = append(steps, foldStep{lo: i, n: 1, single: p})
			start = i + 1
		}
	}
	flush(start, len(progs))
	return steps
}

// chainSource is the folded expression of srcs. Each source goes on lines
// of its own inside parentheses, so a trailing // comment cannot swallow
// what follows; every source parses alone, so its parentheses balance.
func chainSource(srcs []string) string {
	var b strings.Builder
	for i, s := range srcs {
		b.WriteString("(\n")
		b.WriteString(s)
		b.WriteString("\n) ? ")
		b.WriteString(strconv.Itoa(i + 1))
		b.WriteString(" : ")
	}
	b.WriteString("0")
	return b.String()
}

// compileChain compiles the folded program of progs.
func compileChain(progs []*Program, kind Kind) (cel.Program, error) {
	srcs := make([]string, len(progs))
	for i, p := range progs {
		srcs[i] = p.Source
	}
	return compileInt(chainSource(srcs), kind)
}

// compileInt compiles an expression of the folding, which returns an int.
// It is not metered: it holds only rules that are not metered alone.
func compileInt(src string, kind Kind) (prog cel.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			prog, err = nil, fmt.Errorf("internal error compiling folded rules: %v", r)
		}
	}()
	e, err := envs()
	if err != nil {
		return nil, err
	}
	ce := e.rule
	if kind == KindIdentity {
		ce = e.ident
	}
	ast, iss := ce.Compile(src)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if !ast.OutputType().IsExactType(types.IntType) {
		return nil, fmt.Errorf("folded rules return %s, not int", ast.OutputType())
	}
	return ce.Program(ast, cel.EvalOptions(cel.OptOptimize))
}

// ruleSteps builds the steps of a route: its deny rules, then its allow
// rules, in order.
func ruleSteps(rr *RouteRules) []foldStep {
	progs := make([]*Program, 0, len(rr.Deny)+len(rr.Allow))
	for _, r := range rr.Deny {
		progs = append(progs, r.Program)
	}
	for _, r := range rr.Allow {
		progs = append(progs, r.Program)
	}
	return foldSteps(progs)
}
