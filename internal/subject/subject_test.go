package subject_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-dev/portico/internal/subject"
)

func TestValidate(t *testing.T) {
	long := strings.Repeat("a.", subject.MaxLen/2) // 512 bytes ending in "."
	tests := []struct {
		p       string
		wantErr string
	}{
		{"keys.create", ""},
		{"orchestrator.batch.*", ""},
		{"extensions.datamigrator.>", ""},
		{">", ""},
		{"*", ""},
		{"*.*.>", ""},
		{"extensions.café.read", ""},
		{"$SYS.REQ.>", ""},
		{"_INBOX.>", ""},
		{"a-b_c:d", ""},
		{long[:subject.MaxLen-1], ""},
		{"", "is empty"},
		{".", "token 1 is empty"},
		{"a.", "token 2 is empty"},
		{".a", "token 1 is empty"},
		{"a..b", "token 2 is empty"},
		{">.a", `token 1 is ">", which must be the last token`},
		{"a.>.b", `token 2 is ">", which must be the last token`},
		{"a.b*", `token 2 "b*" mixes a wildcard`},
		{"a.>b", `token 2 ">b" mixes a wildcard`},
		{"a b", "contains whitespace"},
		{"a.\tb", "contains whitespace"},
		{"a.\u00a0", "contains whitespace"},
		{"a.b\x00", "control character"},
		{"a.\xff", "is not valid UTF-8"},
		{strings.Repeat("a", subject.MaxLen+1), "is longer than 512 bytes"},
	}
	for _, tt := range tests {
		err := subject.Validate(tt.p)
		if tt.wantErr == "" {
			assert.NoError(t, err, "pattern %q", tt.p)
			continue
		}
		if assert.Error(t, err, "pattern %q", tt.p) {
			assert.Contains(t, err.Error(), tt.wantErr, "pattern %q", tt.p)
		}
	}
}

var matchTests = []struct {
	p, s string
	want bool
}{
	{"keys.create", "keys.create", true},
	{"keys.create", "keys.delete", false},
	{"keys.create", "keys", false},
	{"keys", "keys.create", false},
	{"keys.*", "keys.create", true},
	{"keys.*", "keys", false},
	{"keys.*", "keys.a.b", false},
	{"*.create", "keys.create", true},
	{"*", "keys", true},
	{"*", "keys.create", false},
	{"keys.>", "keys.create", true},
	{"keys.>", "keys.a.b.c", true},
	{"keys.>", "keys", false},
	{">", "anything.at.all", true},
	{">", "x", true},
	{"a.*.c.>", "a.b.c.d", true},
	{"a.*.c.>", "a.b.c", false},
	{"a.*.c.>", "a.b.x.d", false},
	{"extensions.café.>", "extensions.café.read", true},
	{"extensions.café.>", "extensions.cafe.read", false},
	{"KEYS.create", "keys.create", false},
}

func TestMatch(t *testing.T) {
	for _, tt := range matchTests {
		assert.Equal(t, tt.want, subject.Match(tt.p, tt.s), "Match(%q, %q)", tt.p, tt.s)
	}
}

func TestMatchVeryLongSubject(t *testing.T) {
	s := strings.Repeat("a.", 10000) + "b"
	assert.True(t, subject.Match("a.>", s))
	assert.False(t, subject.Match("a.*", s))
	var set subject.Set
	set.Add("a.*")
	set.Add("*.*.b")
	_, ok := set.Match(s)
	assert.False(t, ok)
	set = subject.Set{}
	set.Add("a.a.>")
	p, ok := set.Match(s)
	assert.True(t, ok)
	assert.Equal(t, "a.a.>", p)
}

func TestSetAgreesWithMatch(t *testing.T) {
	var set subject.Set
	patterns := map[string]bool{}
	for _, tt := range matchTests {
		set.Add(tt.p)
		patterns[tt.p] = true
	}
	subjects := []string{"keys.create", "keys", "keys.a.b", "a.b.c.d", "a.b.c", "x", "extensions.café.read", "zzz.q"}
	for _, s := range subjects {
		want := false
		for p := range patterns {
			want = want || subject.Match(p, s)
		}
		p, ok := set.Match(s)
		assert.Equal(t, want, ok, "subject %q", s)
		if ok {
			assert.True(t, subject.Match(p, s), "set answered %q for %q, which does not match", p, s)
		}
	}
}

func TestSetPrefersExact(t *testing.T) {
	var set subject.Set
	set.Add("keys.>")
	set.Add("keys.create")
	p, ok := set.Match("keys.create")
	require.True(t, ok)
	assert.Equal(t, "keys.create", p)
	var empty subject.Set
	_, ok = empty.Match("keys")
	assert.False(t, ok)
}

func TestCovers(t *testing.T) {
	tests := []struct {
		p, q string
		want bool
	}{
		{">", ">", true},
		{">", "a.*", true},
		{"a.>", "a.b", true},
		{"a.>", "a.>", true},
		{"a.>", "a", false},
		{"a.>", ">", false},
		{"a.*", "a.b", true},
		{"a.*", "a.*", true},
		{"a.*", "a.>", false},
		{"a.b", "a.*", false},
		{"a.b", "a.b", true},
		{"a.b", "a.b.c", false},
		{"*.b", "a.b", true},
		{"*", ">", false},
		{"a.*.c", "a.*.c", true},
		{"a.*.c", "a.b.*", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, subject.Covers(tt.p, tt.q), "Covers(%q, %q)", tt.p, tt.q)
	}
}

func TestIntersects(t *testing.T) {
	tests := []struct {
		p, q string
		want bool
	}{
		{">", "a", true},
		{"a.>", "a", false},
		{"a.>", "*.b", true},
		{"a.*", "*.b", true},
		{"a.*", "b.*", false},
		{"a.b", "a.b", true},
		{"a.b", "a.c", false},
		{"a.b", "a.b.c", false},
		{"a.*.c", "a.b.*", true},
		{"*", "a.b", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, subject.Intersects(tt.p, tt.q), "Intersects(%q, %q)", tt.p, tt.q)
		assert.Equal(t, tt.want, subject.Intersects(tt.q, tt.p), "Intersects(%q, %q)", tt.q, tt.p)
	}
}

func TestIsLiteral(t *testing.T) {
	assert.True(t, subject.IsLiteral("keys.create"))
	assert.False(t, subject.IsLiteral("keys.*"))
	assert.False(t, subject.IsLiteral(">"))
}

// FuzzPattern checks that Validate never panics, that every valid pattern
// matches itself when literal, and that a Set holding one pattern agrees
// with Match on subjects derived from the input.
func FuzzPattern(f *testing.F) {
	for _, tt := range matchTests {
		f.Add(tt.p, tt.s)
	}
	f.Add("a.>.b", "a.x.b")
	f.Add("a..b", "a.b")
	f.Fuzz(func(t *testing.T, p, s string) {
		if subject.Validate(p) != nil {
			return
		}
		assert.True(t, subject.Covers(p, p), "pattern %q covers itself", p)
		assert.True(t, subject.Intersects(p, p), "pattern %q intersects itself", p)
		if subject.IsLiteral(p) {
			assert.True(t, subject.Match(p, p), "literal %q matches itself", p)
		}
		assert.Equal(t, subject.Validate(s) == nil && subject.IsLiteral(s), subject.ValidLiteral(s), "ValidLiteral(%q)", s)
		if !subject.ValidLiteral(s) {
			return
		}
		var set subject.Set
		set.Add(p)
		_, ok := set.Match(s)
		assert.Equal(t, subject.Match(p, s), ok, "pattern %q, subject %q", p, s)
		if subject.Match(p, s) {
			assert.True(t, subject.Covers(p, s), "%q matches %q so covers it", p, s)
			assert.True(t, subject.Intersects(p, s), "%q matches %q so intersects it", p, s)
		}
	})
}

func BenchmarkSetMatch(b *testing.B) {
	var set subject.Set
	for i := range 1000 {
		set.Add("svc" + strings.Repeat("x", i%7) + ".*.op" + string(rune('a'+i%26)) + ".>")
	}
	set.Add("keys.create")
	b.Run("exact", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			set.Match("keys.create")
		}
	})
	b.Run("wildcard", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			set.Match("svcxxx.one.opd.read")
		}
	})
}

func TestValidLiteral(t *testing.T) {
	for _, s := range []string{"keys.create", "a", "extensions.café.read", "$SYS.x", "a-b.c_d"} {
		assert.True(t, subject.ValidLiteral(s), "subject %q", s)
	}
	for _, s := range []string{"", ".", "a.", ".a", "a..b", "a.*", ">", "a.b*", "a b", "a.\x7f", "a.\xff", "café.*", "a.\u00a0", strings.Repeat("a", subject.MaxLen+1)} {
		assert.False(t, subject.ValidLiteral(s), "subject %q", s)
	}
}
