package extension

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/portico-dev/portico/auth"
)

// Resolution says where the module route finds the dependency modules a
// bundle's import map points at.
type Resolution string

// The resolution modes.
const (
	// ResolveProxy fetches every module from Config.ModuleUpstream,
	// through the bounded module cache. The browser only ever talks to
	// the platform.
	ResolveProxy Resolution = "proxy"
	// ResolveMixed serves a module from an active bundle that ships it
	// under modules/ (modules/react@18.3.1/index.js), and fetches the
	// others as ResolveProxy does.
	ResolveMixed Resolution = "mixed"
	// ResolveBundleOnly serves no modules (404): bundles must carry all
	// their code.
	ResolveBundleOnly Resolution = "bundle-only"
)

// Settings are the platform settings an administrator changes at run
// time. The registry keeps them in its Store; the ones it does not use
// itself (SessionIdleTimeout) reach the host through Config.OnSettings.
type Settings struct {
	// SessionIdleTimeout ends a login session unused for this long (for
	// package auth: Service.SetSessionIdleTimeout). Zero: sessions end
	// only when their refresh tokens expire.
	SessionIdleTimeout time.Duration
	// Resolution is the dependency resolution mode.
	Resolution Resolution
	// ModuleCache bounds the cache of dependency modules.
	ModuleCache ModuleCacheLimits
	// BundleRetention is how many versions of each extension's bundle are
	// kept, the active one always among them.
	BundleRetention int
}

// ModuleCacheLimits bound the module cache.
type ModuleCacheLimits struct {
	MaxBytes       int64 `json:"max_bytes"`
	MaxEntries     int   `json:"max_entries"`
	MaxModuleBytes int64 `json:"max_module_bytes"` // a larger module is refused, not cached
}

// DefaultSettings returns the settings Config.Settings defaults to: proxy
// resolution, a 64 MiB cache of at most 2000 modules of at most 4 MiB
// each, DefaultBundleRetention versions, and no session idle timeout.
func DefaultSettings() Settings {
	return Settings{
		Resolution:      ResolveProxy,
		ModuleCache:     ModuleCacheLimits{MaxBytes: 64 << 20, MaxEntries: 2000, MaxModuleBytes: 4 << 20},
		BundleRetention: DefaultBundleRetention,
	}
}

// settingsJSON is the wire form: durations in whole seconds.
type settingsJSON struct {
	SessionIdleTimeoutS int64             `json:"session_idle_timeout_s"`
	Resolution          Resolution        `json:"dependency_resolution"`
	ModuleCache         ModuleCacheLimits `json:"module_cache"`
	BundleRetention     int               `json:"bundle_retention"`
}

func (s Settings) wire() settingsJSON {
	return settingsJSON{int64(s.SessionIdleTimeout / time.Second), s.Resolution, s.ModuleCache, s.BundleRetention}
}

func (j settingsJSON) settings() (Settings, error) {
	if j.SessionIdleTimeoutS < 0 || j.SessionIdleTimeoutS > int64(maxIdle/time.Second) { // before it can overflow
		return Settings{}, invalid("session_idle_timeout_s", "must be 0 (off) or between 60 and %d", int64(maxIdle/time.Second))
	}
	return Settings{time.Duration(j.SessionIdleTimeoutS) * time.Second, j.Resolution, j.ModuleCache, j.BundleRetention}, nil
}

// MarshalJSON writes the wire form.
func (s Settings) MarshalJSON() ([]byte, error) { return json.Marshal(s.wire()) }

// UnmarshalJSON reads the wire form; fields it lacks keep their values.
func (s *Settings) UnmarshalJSON(b []byte) error {
	j := s.wire()
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	got, err := j.settings()
	if err != nil {
		return err
	}
	*s = got
	return nil
}

const maxIdle = 90 * 24 * time.Hour

// validate checks every field.
func (s Settings) validate() error {
	switch {
	case s.SessionIdleTimeout != 0 && (s.SessionIdleTimeout < time.Minute || s.SessionIdleTimeout > maxIdle):
		return invalid("session_idle_timeout_s", "must be 0 (off) or between 60 and %d", int64(maxIdle/time.Second))
	case s.Resolution != ResolveProxy && s.Resolution != ResolveMixed && s.Resolution != ResolveBundleOnly:
		return invalid("dependency_resolution", "must be proxy, mixed or bundle-only")
	case s.ModuleCache.MaxEntries < 1 || s.ModuleCache.MaxEntries > 1_000_000:
		return invalid("module_cache.max_entries", "must be between 1 and 1000000")
	case s.ModuleCache.MaxModuleBytes < 1:
		return invalid("module_cache.max_module_bytes", "must be positive")
	case s.ModuleCache.MaxBytes < s.ModuleCache.MaxModuleBytes || s.ModuleCache.MaxBytes > 16<<30:
		return invalid("module_cache.max_bytes", "must be at least max_module_bytes and at most 16 GiB")
	case s.BundleRetention < 1 || s.BundleRetention > 1000:
		return invalid("bundle_retention", "must be between 1 and 1000")
	}
	return nil
}

// Settings returns the current settings: the stored ones, or
// Config.Settings until an administrator changes them.
func (r *Registry) Settings(ctx context.Context) (Settings, error) {
	if s := r.settings.Load(); s != nil {
		return *s, nil
	}
	s, err := r.store.GetSettings(ctx)
	if errors.Is(err, ErrNotFound) {
		s, err = r.cfg.Settings, nil
	}
	if err != nil {
		return Settings{}, err
	}
	r.settings.CompareAndSwap(nil, &s)
	return s, nil
}

// UpdateSettings replaces the settings, for an administrator, and hands
// them to Config.OnSettings. A smaller module cache evicts at once.
func (r *Registry) UpdateSettings(ctx context.Context, by auth.Principal, s Settings) (Settings, error) {
	if err := r.requireAdmin(ctx, by); err != nil {
		return Settings{}, err
	}
	if err := s.validate(); err != nil {
		return Settings{}, err
	}
	if err := r.store.PutSettings(ctx, s); err != nil {
		return Settings{}, err
	}
	r.settings.Store(&s)
	r.modules.resize(s.ModuleCache)
	r.log.Info("settings changed", "by", by.Subject, "resolution", s.Resolution, "session_idle_timeout", s.SessionIdleTimeout)
	if r.cfg.OnSettings != nil {
		r.cfg.OnSettings(s)
	}
	return s, nil
}

// Changed tells the registry that another instance sharing its store
// changed it: an extension (its cached route is dropped at once rather
// than when it expires), or with prefix "" the settings, which are read
// again and handed to Config.OnSettings.
func (r *Registry) Changed(ctx context.Context, prefix string) error {
	if prefix != "" {
		r.proxy.forget(prefix)
		return nil
	}
	r.settings.Store(nil)
	s, err := r.Settings(ctx)
	if err != nil {
		return err
	}
	r.modules.resize(s.ModuleCache)
	if r.cfg.OnSettings != nil {
		r.cfg.OnSettings(s)
	}
	return nil
}
