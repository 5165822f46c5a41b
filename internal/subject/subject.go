// Package subject parses and matches dot-separated subjects with NATS
// wildcards: "*" matches exactly one token and ">" one or more trailing
// tokens. Package rbac uses it for permissions and package apikey for the
// NATS subjects of API keys, so both accept and refuse the same patterns.
package subject

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLen bounds a pattern's length in bytes.
const MaxLen = 512

// Validate reports whether p is a well-formed pattern: at most MaxLen
// bytes of valid UTF-8, tokens separated by single dots, no empty token,
// no whitespace or control characters, "*" and ">" only as whole tokens and
// ">" only as the last token.
func Validate(p string) error {
	switch {
	case p == "":
		return errors.New("is empty")
	case len(p) > MaxLen:
		return fmt.Errorf("is longer than %d bytes", MaxLen)
	case !utf8.ValidString(p):
		return errors.New("is not valid UTF-8")
	}
	for i, rest := 0, p; ; i++ {
		tok, more, _ := strings.Cut(rest, ".")
		if err := validateToken(tok, rest == tok); err != nil {
			return fmt.Errorf("token %d %s", i+1, err)
		}
		if rest == tok {
			return nil
		}
		rest = more
	}
}

func validateToken(tok string, last bool) error {
	switch tok {
	case "":
		return errors.New("is empty")
	case "*":
		return nil
	case ">":
		if !last {
			return errors.New(`is ">", which must be the last token`)
		}
		return nil
	}
	for _, r := range tok {
		switch {
		case r == '*' || r == '>':
			return fmt.Errorf("%q mixes a wildcard with other characters", tok)
		case unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError:
			return fmt.Errorf("%q contains whitespace or a control character", tok)
		}
	}
	return nil
}

// IsLiteral reports whether a valid pattern has no wildcard token.
func IsLiteral(p string) bool {
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "*" || tok == ">" {
			return false
		}
	}
	return true
}

// Match reports whether the valid pattern p matches the literal subject s.
func Match(p, s string) bool {
	for {
		pt, prest, pmore := strings.Cut(p, ".")
		st, srest, smore := strings.Cut(s, ".")
		switch {
		case pt == ">":
			return true // s has at least this token
		case pt != "*" && pt != st:
			return false
		case !pmore || !smore:
			return pmore == smore
		}
		p, s = prest, srest
	}
}

// Covers reports whether every subject the valid pattern q matches is also
// matched by the valid pattern p.
func Covers(p, q string) bool {
	for {
		pt, prest, pmore := strings.Cut(p, ".")
		qt, qrest, qmore := strings.Cut(q, ".")
		switch {
		case pt == ">":
			return true
		case qt == ">":
			return false // only ">" covers ">"
		case pt == "*":
			// covers any single token, literal or "*"
		case pt != qt || qt == "*":
			return false
		}
		if !pmore || !qmore {
			return pmore == qmore
		}
		p, q = prest, qrest
	}
}

// Intersects reports whether some subject is matched by both valid
// patterns p and q.
func Intersects(p, q string) bool {
	for {
		pt, prest, pmore := strings.Cut(p, ".")
		qt, qrest, qmore := strings.Cut(q, ".")
		switch {
		case pt == ">" || qt == ">":
			return true
		case pt != "*" && qt != "*" && pt != qt:
			return false
		}
		if !pmore || !qmore {
			return pmore == qmore
		}
		p, q = prest, qrest
	}
}

// ValidLiteral reports whether s is a valid pattern without wildcards. It is
// Validate and IsLiteral in one pass, cheap enough for every request: ASCII
// subjects are checked byte by byte and only others take the full path.
func ValidLiteral(s string) bool {
	if s == "" || len(s) > MaxLen {
		return false
	}
	start := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x80:
			return Validate(s) == nil && IsLiteral(s)
		case c == '.':
			if i == start {
				return false
			}
			start = i + 1
		case c <= ' ' || c == 0x7f || c == '*' || c == '>':
			// whitespace, a control character or a wildcard: "a*" is
			// invalid and "*" is not literal, so both are refused here
			return false
		}
	}
	return start < len(s)
}
