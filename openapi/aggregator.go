package openapi

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Defaults for Config's zero values.
const (
	DefaultPathPrefix  = "/api/v1/extension"
	DefaultMaxDocument = 1 << 20
)

// Config configures an Aggregator. The zero value serves a minimal
// platform document and no extensions.
type Config struct {
	// Platform is the platform's own OpenAPI 3.0 document, as JSON. New
	// refuses one kin-openapi finds invalid. Empty: a document with no
	// paths, titled "Portico".
	Platform []byte
	// Sources returns the extensions' documents (with package extension:
	// Registry.All). Nil: none.
	Sources func(ctx context.Context) ([]Source, error)
	// PathPrefix is where an extension's paths go: PathPrefix/ID/path.
	// Empty: DefaultPathPrefix.
	PathPrefix string
	// MaxDocumentBytes caps an extension's document. Zero:
	// DefaultMaxDocument.
	MaxDocumentBytes int
	// Logger receives the aggregator's logs. Nil: slog.Default().
	Logger *slog.Logger
}

// Aggregator builds one OpenAPI document from the platform's and every
// extension's, and rebuilds it when told the extensions changed. It is
// safe for concurrent use.
type Aggregator struct {
	cfg     Config
	log     *slog.Logger
	top     map[string]json.RawMessage // the platform document's fields
	base    parts                      // its paths and components
	tags    []json.RawMessage          // its tags
	schemes map[string]any             // its security schemes, as decoded JSON

	current atomic.Pointer[Result]
	dirty   atomic.Bool

	mu    sync.Mutex                // one aggregation at a time; guards cache
	cache map[[32]byte]preparedOrNo // by source, so an unchanged document is not prepared again

	valid   atomic.Pointer[validator] // ValidateRequests' router, for one document
	validMu sync.Mutex                // one build of it at a time
}

type preparedOrNo struct {
	p   *prepared
	err error
}

// Result is one aggregation.
type Result struct {
	// JSON is the aggregated document, as served.
	JSON []byte
	// ETag is a strong entity tag of JSON.
	ETag   string
	Report Report
}

// New returns an Aggregator for cfg.
func New(cfg Config) (*Aggregator, error) {
	cfg.PathPrefix = cmp.Or(cfg.PathPrefix, DefaultPathPrefix)
	cfg.MaxDocumentBytes = cmp.Or(cfg.MaxDocumentBytes, DefaultMaxDocument)
	if cfg.PathPrefix[0] != '/' || cfg.PathPrefix[len(cfg.PathPrefix)-1] == '/' {
		return nil, errors.New("openapi: PathPrefix must start with / and not end with one")
	}
	if len(cfg.Platform) == 0 {
		cfg.Platform = []byte(`{"openapi":"3.0.3","info":{"title":"Portico","version":"0"},"paths":{}}`)
	}
	doc, err := load(context.Background(), cfg.Platform)
	if err != nil {
		return nil, fmt.Errorf("openapi: platform document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi: platform document: %w", err)
	}
	a := &Aggregator{cfg: cfg, log: cfg.Logger, cache: make(map[[32]byte]preparedOrNo)}
	var schemes struct {
		Components struct {
			SecuritySchemes map[string]any `json:"securitySchemes"`
		} `json:"components"`
	}
	var tags struct {
		Tags []json.RawMessage `json:"tags"`
	}
	for _, v := range []any{&a.top, &a.base, &tags, &schemes} {
		if err := json.Unmarshal(cfg.Platform, v); err != nil {
			return nil, fmt.Errorf("openapi: platform document: %w", err)
		}
	}
	a.tags, a.schemes = tags.Tags, schemes.Components.SecuritySchemes
	if a.base.Paths == nil {
		a.base.Paths = map[string]json.RawMessage{}
	}
	if a.base.Components == nil {
		a.base.Components = map[string]map[string]json.RawMessage{}
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.dirty.Store(true)
	return a, nil
}

// Invalidate marks the document stale: the next Document call rebuilds
// it. Subscribe it to the extension registry's events.
func (a *Aggregator) Invalidate() { a.dirty.Store(true) }

// Document returns the aggregated document, rebuilding it first if it is
// stale. If the sources cannot be read, the last document built is
// returned (and the error logged); with none, the error.
func (a *Aggregator) Document(ctx context.Context) (*Result, error) {
	if r := a.current.Load(); r != nil && !a.dirty.Load() {
		return r, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.current.Load(); r != nil && !a.dirty.Load() {
		return r, nil
	}
	a.dirty.Store(false) // a change while this runs marks it stale again
	r, err := a.aggregate(ctx)
	if err != nil {
		a.dirty.Store(true)
		if last := a.current.Load(); last != nil {
			a.log.Error("openapi: aggregation failed; serving the last document", "err", err)
			return last, nil
		}
		return nil, err
	}
	a.current.Store(r)
	return r, nil
}

// aggregate builds the document from the platform's and the sources'.
func (a *Aggregator) aggregate(ctx context.Context) (*Result, error) {
	var srcs []Source
	if a.cfg.Sources != nil {
		var err error
		if srcs, err = a.cfg.Sources(ctx); err != nil {
			return nil, fmt.Errorf("openapi: read sources: %w", err)
		}
	}
	slices.SortFunc(srcs, func(x, y Source) int { return cmp.Compare(x.ID, y.ID) })
	prepared := a.prepareAll(ctx, srcs)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	doc := parts{Paths: maps.Clone(a.base.Paths), Components: make(map[string]map[string]json.RawMessage)}
	for kind, m := range a.base.Components {
		doc.Components[kind] = maps.Clone(m)
	}
	tags := slices.Clone(a.tags)
	report := Report{Included: []string{}, Excluded: []Exclusion{}}
	for i, src := range srcs {
		if i > 0 && srcs[i-1].ID == src.ID {
			report.Excluded = append(report.Excluded, Exclusion{ID: src.ID, Reason: "duplicate id"})
			continue
		}
		got := prepared[i]
		err := got.err
		if err == nil {
			err = doc.add(got.p)
		}
		if err != nil {
			report.Excluded = append(report.Excluded, Exclusion{ID: src.ID, Reason: err.Error()})
			continue
		}
		tags = append(tags, got.p.tag)
		report.Included = append(report.Included, src.ID)
	}
	out := maps.Clone(a.top)
	var err error
	if out["paths"], err = json.Marshal(doc.Paths); err != nil {
		return nil, fmt.Errorf("openapi: encode: %w", err)
	}
	if len(doc.Components) > 0 {
		if out["components"], err = json.Marshal(doc.Components); err != nil {
			return nil, fmt.Errorf("openapi: encode: %w", err)
		}
	}
	if len(tags) > 0 {
		if out["tags"], err = json.Marshal(tags); err != nil {
			return nil, fmt.Errorf("openapi: encode: %w", err)
		}
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("openapi: encode: %w", err)
	}
	sum := sha256.Sum256(raw)
	return &Result{JSON: raw, ETag: `"` + hex.EncodeToString(sum[:16]) + `"`, Report: report}, nil
}

// prepareAll prepares each source, from the cache when its content is
// unchanged, the others in parallel, and keeps the cache to what srcs
// hold.
func (a *Aggregator) prepareAll(ctx context.Context, srcs []Source) []preparedOrNo {
	out := make([]preparedOrNo, len(srcs))
	keys := make([][32]byte, len(srcs))
	fresh := make([]bool, len(srcs))
	var todo []int
	for i, src := range srcs {
		keys[i] = sourceKey(src)
		if got, ok := a.cache[keys[i]]; ok {
			out[i] = got
		} else {
			todo, fresh[i] = append(todo, i), true
		}
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(todo)) {
		wg.Go(func() {
			for i := range next {
				p, err := prepare(ctx, srcs[i], a.cfg.PathPrefix, a.schemes, a.cfg.MaxDocumentBytes)
				out[i] = preparedOrNo{p, err}
			}
		})
	}
	for _, i := range todo {
		next <- i
	}
	close(next)
	wg.Wait()
	cache := make(map[[32]byte]preparedOrNo, len(srcs))
	for i, src := range srcs {
		if err := out[i].err; err != nil && fresh[i] && ctx.Err() == nil {
			a.log.Warn("openapi: extension document left out", "extension", src.ID, "reason", err)
		}
		if ctx.Err() == nil {
			cache[keys[i]] = out[i]
		}
	}
	a.cache = cache
	return out
}

// sourceKey identifies a source's content.
func sourceKey(s Source) [32]byte {
	h := sha256.New()
	for _, part := range []string{s.ID, s.Name, s.Description} {
		fmt.Fprintf(h, "%d:%s", len(part), part)
	}
	h.Write(s.Document)
	var k [32]byte
	h.Sum(k[:0])
	return k
}
