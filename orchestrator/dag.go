package orchestrator

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Limits on a specification.
const (
	maxOperationID = 128
	maxName        = 256
	maxTypeName    = 64
	maxDeps        = 1000
	maxIdemKey     = 256
)

// graph is a validated DAG: operation i waits for indegree[i] operations
// and releases dependents[i] when it completes.
type graph struct {
	index      map[string]int
	dependents [][]int32
	indegree   []int32
}

// Validate checks a specification against the engine's task types and
// limits without running it: the same check Submit makes.
func (e *Engine) Validate(s Spec) error {
	_, err := e.validate(s)
	return err
}

func (e *Engine) validate(s Spec) (*graph, error) {
	if len(s.Name) > maxName {
		return nil, invalid("name", "is longer than %d bytes", maxName)
	}
	if len(s.IdempotencyKey) > maxIdemKey {
		return nil, invalid("idempotency_key", "is longer than %d bytes", maxIdemKey)
	}
	if s.ParallelLimit < 0 || s.ParallelLimit > e.cfg.MaxParallelLimit {
		return nil, invalid("parallel_limit", "must be from 0 (the default, %d) to %d", e.cfg.DefaultParallelLimit, e.cfg.MaxParallelLimit)
	}
	n := len(s.Operations)
	if n == 0 {
		return nil, invalid("operations", "must not be empty")
	}
	if n > e.cfg.MaxOperations {
		return nil, invalid("operations", "has %d operations; at most %d are allowed", n, e.cfg.MaxOperations)
	}
	for i, op := range s.Operations {
		if !validOperationID(op.ID) {
			return nil, invalid(fmt.Sprintf("operations[%d].id", i), "must be 1-%d letters, digits, '-', '_', '.' or ':'", maxOperationID)
		}
		tt, ok := e.types[op.Type]
		if !ok {
			return nil, invalid(fmt.Sprintf("operations[%d].type", i), "%q is not a registered task type", truncate(op.Type, maxTypeName))
		}
		if len(op.Args) > 0 && !json.Valid(op.Args) {
			return nil, invalid(fmt.Sprintf("operations[%d].args", i), "is not valid JSON")
		}
		if tt.Validate != nil {
			if err := tt.Validate(op.Args); err != nil {
				return nil, invalid(fmt.Sprintf("operations[%d].args", i), "%s", strings.TrimPrefix(err.Error(), "orchestrator: "))
			}
		}
		if op.TimeoutMS < 0 || op.TimeoutMS > e.cfg.MaxTaskTimeout.Milliseconds() {
			return nil, invalid(fmt.Sprintf("operations[%d].timeout_ms", i), "must be from 0 to %d", e.cfg.MaxTaskTimeout.Milliseconds())
		}
		if op.MaxAttempts < 0 || op.MaxAttempts > maxAttempts {
			return nil, invalid(fmt.Sprintf("operations[%d].max_attempts", i), "must be from 0 to %d", maxAttempts)
		}
		if len(op.Dependencies) > maxDeps {
			return nil, invalid(fmt.Sprintf("operations[%d].dependencies", i), "has more than %d entries", maxDeps)
		}
	}
	return link(s.Operations)
}

// link builds the graph of operations, refusing repeated ids, unknown,
// repeated and self dependencies, and cycles.
func link(ops []Operation) (*graph, error) {
	n := len(ops)
	g := &graph{index: make(map[string]int, n), dependents: make([][]int32, n), indegree: make([]int32, n)}
	for i, op := range ops {
		if j, dup := g.index[op.ID]; dup {
			return nil, invalid(fmt.Sprintf("operations[%d].id", i), "%q is also operations[%d].id", op.ID, j)
		}
		g.index[op.ID] = i
	}
	for i, op := range ops {
		for _, d := range op.Dependencies {
			j, ok := g.index[d]
			if !ok {
				return nil, invalid(fmt.Sprintf("operations[%d].dependencies", i), "names %q, which is not an operation of the batch", truncate(d, maxOperationID))
			}
			if j == i {
				return nil, invalid(fmt.Sprintf("operations[%d].dependencies", i), "makes %q depend on itself", op.ID)
			}
			g.dependents[j] = append(g.dependents[j], int32(i))
			g.indegree[i]++
		}
		if len(op.Dependencies) > 1 && hasDuplicate(op.Dependencies) {
			return nil, invalid(fmt.Sprintf("operations[%d].dependencies", i), "names an operation twice")
		}
	}
	if cycle := g.cycle(ops); cycle != nil {
		ids := make([]string, len(cycle))
		for k, i := range cycle {
			ids[k] = ops[i].ID
		}
		return nil, invalid("operations", "have a dependency cycle: %s", strings.Join(ids, " -> "))
	}
	return g, nil
}

// cycle returns a dependency cycle as a path of operations, each
// depending on the next, that starts and ends with the same one; nil if
// the graph is acyclic. Kahn's algorithm removes every operation that is
// neither on a cycle nor behind one.
func (g *graph) cycle(ops []Operation) []int32 {
	n := len(g.indegree)
	indeg := make([]int32, n)
	copy(indeg, g.indegree)
	queue := make([]int32, 0, n)
	for i, d := range indeg {
		if d == 0 {
			queue = append(queue, int32(i))
		}
	}
	for k := 0; k < len(queue); k++ {
		for _, j := range g.dependents[queue[k]] {
			if indeg[j]--; indeg[j] == 0 {
				queue = append(queue, j)
			}
		}
	}
	if len(queue) == n {
		return nil
	}
	// Every remaining node still waits for a remaining one, so walking
	// dependencies among them must come back to a node already seen.
	start := int32(-1)
	for i, d := range indeg {
		if d > 0 {
			start = int32(i)
			break
		}
	}
	seen := make(map[int32]int)
	var path []int32
	for at := start; ; {
		if k, ok := seen[at]; ok {
			return append(path[k:], at)
		}
		seen[at] = len(path)
		path = append(path, at)
		for _, d := range ops[at].Dependencies {
			if j := int32(g.index[d]); indeg[j] > 0 {
				at = j
				break
			}
		}
	}
}

func hasDuplicate(ids []string) bool {
	if len(ids) <= 16 { // the common case: compare, without a map
		for i := 1; i < len(ids); i++ {
			for j := range i {
				if ids[i] == ids[j] {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if _, ok := seen[id]; ok {
			return true
		}
		seen[id] = struct{}{}
	}
	return false
}

func validOperationID(s string) bool {
	if s == "" || len(s) > maxOperationID {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
