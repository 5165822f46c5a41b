package subject

import "strings"

// Set is a compiled set of valid patterns, matched against literal subjects
// without allocating: literal patterns by one map lookup, wildcard patterns
// through a token trie. A Set is built once and then only read, so it is
// safe for concurrent matching.
type Set struct {
	exact map[string]struct{}
	root  *node
}

type node struct {
	lit  map[string]*node
	star *node
	end  string // the pattern that ends at this node
	rest string // the pattern with ">" at this position
}

// Add puts the valid pattern p in the set. It must not be called once the
// set is being matched.
func (s *Set) Add(p string) {
	if IsLiteral(p) {
		if s.exact == nil {
			s.exact = make(map[string]struct{})
		}
		s.exact[p] = struct{}{}
		return
	}
	if s.root == nil {
		s.root = &node{}
	}
	n := s.root
	for tok := range strings.SplitSeq(p, ".") {
		switch tok {
		case ">":
			n.rest = p
			return
		case "*":
			if n.star == nil {
				n.star = &node{}
			}
			n = n.star
		default:
			next := n.lit[tok]
			if next == nil {
				if n.lit == nil {
					n.lit = make(map[string]*node)
				}
				next = &node{}
				n.lit[tok] = next
			}
			n = next
		}
	}
	n.end = p
}

// Match returns a pattern of the set that matches the literal subject
// subj, preferring an exact one.
func (s *Set) Match(subj string) (pattern string, ok bool) {
	if _, ok := s.exact[subj]; ok {
		return subj, true
	}
	if s.root == nil {
		return "", false
	}
	p := s.root.match(subj)
	return p, p != ""
}

// match walks subj's tokens from n; subj is what is left after the
// tokens already consumed.
func (n *node) match(subj string) string {
	if n.rest != "" {
		return n.rest // subj holds at least one more token here
	}
	tok, rest, more := strings.Cut(subj, ".")
	if next := n.lit[tok]; next != nil {
		if p := next.follow(rest, more); p != "" {
			return p
		}
	}
	if n.star != nil {
		return n.star.follow(rest, more)
	}
	return ""
}

func (n *node) follow(rest string, more bool) string {
	if !more {
		return n.end
	}
	return n.match(rest)
}
