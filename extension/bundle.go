package extension

import (
	"archive/zip"
	"bytes"
	"cmp"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/portico-dev/portico/auth"
)

// ErrActive refuses to delete the active version of a bundle.
var ErrActive = errors.New("extension: the bundle version is active")

// Bundle is one published version of an extension's UI: ES modules and
// assets a UI shell loads through the import map. A version's files never
// change once published, so they are served with immutable caching;
// publishing new code means publishing a new version.
type Bundle struct {
	Prefix  string `json:"prefix"`
	Version string `json:"version"`
	// Active marks the version the UI shell loads. At most one version of
	// an extension is active; the first published one becomes active, the
	// others when promoted.
	Active bool `json:"active"`
	// Integrity is the SRI hash ("sha384-…") of the entry module,
	// index.js.
	Integrity string `json:"integrity"`
	// ImportMap is the bundle's import map as published: targets in the
	// bundle are "./"-relative paths and the integrity section is keyed
	// by them. Registry.ActiveBundles and the HTTP handlers answer it
	// resolved to URLs.
	ImportMap ImportMap    `json:"importMap"`
	Files     []BundleFile `json:"files"`
	// Size is the sum of the files' sizes, unpacked.
	Size        int64     `json:"size"`
	PublishedAt time.Time `json:"published_at"`
	PublishedBy string    `json:"published_by"`
}

// BundleFile describes one file of a bundle.
type BundleFile struct {
	Path        string `json:"path"`
	Size        int64  `json:"size"`
	Integrity   string `json:"integrity"`
	ContentType string `json:"content_type"`
}

// ImportMap is a browser import map with its integrity section (the
// HTML standard's "integrity" key: module URL to SRI hash).
type ImportMap struct {
	Imports   map[string]string            `json:"imports"`
	Scopes    map[string]map[string]string `json:"scopes,omitempty"`
	Integrity map[string]string            `json:"integrity"`
}

func (b Bundle) clone() Bundle {
	b.Files = slices.Clone(b.Files)
	b.ImportMap = b.ImportMap.clone()
	return b
}

func (m ImportMap) clone() ImportMap {
	out := ImportMap{Imports: cloneMap(m.Imports), Integrity: cloneMap(m.Integrity)}
	if m.Scopes != nil {
		out.Scopes = make(map[string]map[string]string, len(m.Scopes))
		for k, v := range m.Scopes {
			out.Scopes[k] = cloneMap(v)
		}
	}
	return out
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Limits on a bundle.
const (
	// DefaultMaxBundleBytes caps an uploaded bundle (the zip).
	DefaultMaxBundleBytes = 16 << 20
	// DefaultMaxBundleUnpacked caps the sum of a bundle's unpacked files.
	DefaultMaxBundleUnpacked = 64 << 20
	// DefaultMaxBundleFiles caps the number of files in a bundle.
	DefaultMaxBundleFiles = 1000
	// DefaultBundleRetention is how many versions of an extension's
	// bundle are kept when the settings say nothing.
	DefaultBundleRetention = 5

	bundleEntry     = "index.js"
	bundleImportMap = "import-map.json"
	maxImportMap    = 256 << 10
	maxBundlePath   = 512
)

// validBundleVersion: 1-64 letters, digits, '.', '_', '-' and '+', not
// "." or "..", so that a version is one clean URL path segment.
func validBundleVersion(v string) bool {
	if v == "" || len(v) > maxVersion || v == "." || v == ".." {
		return false
	}
	return !strings.ContainsFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-+", r))
	})
}

// sri returns the SRI sha384 hash of data.
func sri(data []byte) string {
	sum := sha512.Sum384(data)
	return "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
}

// unpackBundle reads a bundle's zip: every file at a clean relative path,
// an index.js at the root, sizes measured as read rather than believed
// from the zip's headers.
func (r *Registry) unpackBundle(data []byte) (map[string][]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, invalid("bundle", "must be a zip archive")
	}
	files := make(map[string][]byte)
	var total int64
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		name := f.Name
		if len(name) > maxBundlePath || name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") ||
			path.Clean(name) != name || strings.HasPrefix(name, "../") || name == ".." ||
			strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, invalid("bundle", "holds a file at a path that is not clean and relative: %q", name)
		}
		if _, dup := files[name]; dup {
			return nil, invalid("bundle", "holds %q twice", name)
		}
		if len(files) == r.cfg.MaxBundleFiles {
			return nil, invalid("bundle", "must hold at most %d files", r.cfg.MaxBundleFiles)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, invalid("bundle", "file %q cannot be read: %v", name, err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, r.cfg.MaxBundleUnpacked-total+1))
		rc.Close()
		if err != nil {
			return nil, invalid("bundle", "file %q cannot be read: %v", name, err)
		}
		if total += int64(len(b)); total > r.cfg.MaxBundleUnpacked {
			return nil, invalid("bundle", "must unpack to at most %d bytes", r.cfg.MaxBundleUnpacked)
		}
		files[name] = b
	}
	if _, ok := files[bundleEntry]; !ok {
		return nil, invalid("bundle", "must hold an %s at its root", bundleEntry)
	}
	return files, nil
}

// contentType is what a bundle file is served as.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".map", ".json":
		return "application/json"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// isModule reports whether a file is a JavaScript module, whose hash goes
// into the import map's integrity section.
func isModule(name string) bool { return path.Ext(name) == ".js" || path.Ext(name) == ".mjs" }

// buildImportMap checks the bundle's own import-map.json, if any, and
// returns it with relative targets as "./" paths that must be files of the
// bundle, and an integrity entry for every module in the bundle. A target
// outside the bundle must be a module under Config.ModuleUpstream, which
// the platform's module route serves.
func (r *Registry) buildImportMap(files map[string][]byte) (ImportMap, error) {
	m := ImportMap{Imports: map[string]string{}, Integrity: map[string]string{}}
	if raw, ok := files[bundleImportMap]; ok {
		if len(raw) > maxImportMap {
			return ImportMap{}, invalid("import-map.json", "must be at most %d bytes", maxImportMap)
		}
		var in struct {
			Imports map[string]string            `json:"imports"`
			Scopes  map[string]map[string]string `json:"scopes"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			return ImportMap{}, invalid("import-map.json", "must be an object with imports and scopes: %v", err)
		}
		var err error
		if m.Imports, err = r.resolveTargets(in.Imports, files); err != nil {
			return ImportMap{}, err
		}
		if len(in.Scopes) > 0 {
			m.Scopes = make(map[string]map[string]string, len(in.Scopes))
			for scope, imports := range in.Scopes {
				if m.Scopes[scope], err = r.resolveTargets(imports, files); err != nil {
					return ImportMap{}, err
				}
			}
		}
	}
	for name, data := range files {
		if isModule(name) {
			m.Integrity["./"+name] = sri(data)
		}
	}
	return m, nil
}

func (r *Registry) resolveTargets(imports map[string]string, files map[string][]byte) (map[string]string, error) {
	out := make(map[string]string, len(imports))
	for spec, target := range imports {
		if spec == "" || len(spec) > maxBundlePath || len(target) > maxURL {
			return nil, invalid("import-map.json", "has an empty or overlong specifier or target")
		}
		if name, ok := strings.CutPrefix(target, "./"); ok {
			dir := strings.TrimSuffix(name, "/") // "./lib/" maps a specifier prefix to a directory
			if dir != "" && path.Clean(dir) != dir || strings.HasPrefix(dir, "/") || hasDotSegment(dir) {
				return nil, invalid("import-map.json", "target %q is not a clean path in the bundle", target)
			}
			if _, ok := files[name]; !ok && dir == name {
				return nil, invalid("import-map.json", "target %q is not a file of the bundle", target)
			}
			out[spec] = target
			continue
		}
		if r.cfg.ModuleUpstream == "" || !strings.HasPrefix(target, strings.TrimSuffix(r.cfg.ModuleUpstream, "/")+"/") {
			return nil, invalid("import-map.json", "target %q must be a ./ path in the bundle or a module under the module upstream", target)
		}
		if _, err := modulePath(strings.TrimPrefix(target, strings.TrimSuffix(r.cfg.ModuleUpstream, "/")+"/")); err != nil {
			return nil, invalid("import-map.json", "target %q: %v", target, err)
		}
		out[spec] = target
	}
	return out, nil
}

// bundleURL is where the handler serves a bundle's file, or its directory
// when name is empty.
func (r *Registry) bundleURL(prefix, version, name string) string {
	return r.cfg.BaseURL + "/extensions/" + prefix + "/bundle/" + url.PathEscape(version) + "/" + name
}

// resolve returns b's import map with its targets as URLs: bundle files
// under BaseURL, dependency modules through the platform's module route.
func (r *Registry) resolve(b Bundle) ImportMap {
	upstream := strings.TrimSuffix(r.cfg.ModuleUpstream, "/") + "/"
	target := func(t string) string {
		if rest, ok := strings.CutPrefix(t, "./"); ok {
			return r.bundleURL(b.Prefix, b.Version, rest)
		}
		if rest, ok := strings.CutPrefix(t, upstream); ok && r.cfg.ModuleUpstream != "" {
			return r.cfg.BaseURL + "/cdn/" + rest
		}
		return t
	}
	resolveAll := func(m map[string]string) map[string]string {
		out := make(map[string]string, len(m))
		for k, v := range m {
			out[k] = target(v)
		}
		return out
	}
	out := ImportMap{Imports: resolveAll(b.ImportMap.Imports), Integrity: make(map[string]string, len(b.ImportMap.Integrity))}
	if _, ok := out.Imports[b.Prefix]; !ok {
		out.Imports[b.Prefix] = r.bundleURL(b.Prefix, b.Version, bundleEntry)
	}
	if len(b.ImportMap.Scopes) > 0 {
		out.Scopes = make(map[string]map[string]string, len(b.ImportMap.Scopes))
		for scope, m := range b.ImportMap.Scopes {
			out.Scopes[target(scope)] = resolveAll(m)
		}
	}
	for k, v := range b.ImportMap.Integrity {
		out.Integrity[target(k)] = v
	}
	return out
}

// PublishBundle publishes version of the extension's UI bundle from a zip
// of its files, for an administrator or the extension's own API key. The
// first version published becomes active; the others wait to be
// promoted. Versions beyond the retention setting's count are deleted,
// oldest first, never the active one.
func (r *Registry) PublishBundle(ctx context.Context, by auth.Principal, prefix, version string, zipData []byte) (Bundle, error) {
	if by.Subject == "" {
		return Bundle{}, ErrUnauthenticated
	}
	e, err := r.store.GetExtension(ctx, prefix)
	if err != nil {
		return Bundle{}, err
	}
	if err := r.mayManage(ctx, by, prefix, &e); err != nil {
		if !r.canSee(ctx, by, prefix) {
			return Bundle{}, ErrNotFound
		}
		return Bundle{}, err
	}
	if !validBundleVersion(version) {
		return Bundle{}, invalid("version", "must be 1-%d letters, digits, '.', '_', '-' or '+'", maxVersion)
	}
	if int64(len(zipData)) > r.cfg.MaxBundleBytes {
		return Bundle{}, invalid("bundle", "must be at most %d bytes", r.cfg.MaxBundleBytes)
	}
	files, err := r.unpackBundle(zipData)
	if err != nil {
		return Bundle{}, err
	}
	im, err := r.buildImportMap(files)
	if err != nil {
		return Bundle{}, err
	}
	b := Bundle{
		Prefix: prefix, Version: version, Integrity: sri(files[bundleEntry]), ImportMap: im,
		PublishedAt: r.now().UTC(), PublishedBy: by.Subject,
	}
	for name, data := range files {
		b.Files = append(b.Files, BundleFile{Path: name, Size: int64(len(data)), Integrity: sri(data), ContentType: contentType(name)})
		b.Size += int64(len(data))
	}
	slices.SortFunc(b.Files, func(x, y BundleFile) int { return cmp.Compare(x.Path, y.Path) })
	if err := r.store.CreateBundle(ctx, b, files); err != nil {
		return Bundle{}, err
	}
	r.log.Info("bundle published", "prefix", prefix, "version", version, "size", b.Size, "by", by.Subject)
	if b.Active, err = r.activateIfNone(ctx, prefix, version); err != nil {
		return Bundle{}, err
	}
	r.publish(Event{Type: EventBundlePublished, Prefix: prefix, Version: version, At: b.PublishedAt})
	if err := r.applyRetention(ctx, prefix); err != nil {
		r.log.Warn("bundle retention failed", "prefix", prefix, "err", err)
	}
	return b, nil
}

// activateIfNone makes version active if the extension has no active
// bundle yet, and reports whether it did.
func (r *Registry) activateIfNone(ctx context.Context, prefix, version string) (bool, error) {
	all, err := r.store.ListBundles(ctx, prefix)
	if err != nil {
		return false, err
	}
	if slices.ContainsFunc(all, func(b Bundle) bool { return b.Active }) {
		return false, nil
	}
	if _, err := r.store.ActivateBundle(ctx, prefix, version); err != nil {
		return false, err
	}
	r.publish(Event{Type: EventBundleActivated, Prefix: prefix, Version: version, At: r.now().UTC()})
	return true, nil
}

// applyRetention keeps the extension's newest versions, as many as the
// retention setting says, the active one always among them, and deletes
// the others.
func (r *Registry) applyRetention(ctx context.Context, prefix string) error {
	s, err := r.Settings(ctx)
	if err != nil {
		return err
	}
	all, err := r.store.ListBundles(ctx, prefix)
	if err != nil {
		return err
	}
	slices.SortFunc(all, func(x, y Bundle) int { return y.PublishedAt.Compare(x.PublishedAt) }) // newest first
	slots := s.BundleRetention
	if slices.ContainsFunc(all, func(b Bundle) bool { return b.Active }) {
		slots-- // the active version is always kept, and counts
	}
	for _, b := range all {
		if b.Active {
			continue
		}
		if slots > 0 {
			slots--
			continue
		}
		if err := r.store.DeleteBundle(ctx, prefix, b.Version); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrActive) {
			return err
		}
		r.log.Info("bundle removed by retention", "prefix", prefix, "version", b.Version)
		r.publish(Event{Type: EventBundleDeleted, Prefix: prefix, Version: b.Version, At: r.now().UTC()})
	}
	return nil
}

// Bundles lists every bundle of every extension, for an administrator,
// ordered by prefix and then newest first.
func (r *Registry) Bundles(ctx context.Context, by auth.Principal) ([]Bundle, error) {
	if err := r.requireAdmin(ctx, by); err != nil {
		return nil, err
	}
	all, err := r.store.ListBundles(ctx, "")
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(all, func(x, y Bundle) int {
		return cmp.Or(cmp.Compare(x.Prefix, y.Prefix), y.PublishedAt.Compare(x.PublishedAt))
	})
	return all, nil
}

// ActivateBundle makes version the extension's active bundle, for an
// administrator. Rolling back is activating an older version.
func (r *Registry) ActivateBundle(ctx context.Context, by auth.Principal, prefix, version string) (Bundle, error) {
	if err := r.requireAdmin(ctx, by); err != nil {
		return Bundle{}, err
	}
	b, err := r.store.ActivateBundle(ctx, prefix, version)
	if err != nil {
		return Bundle{}, err
	}
	r.log.Info("bundle activated", "prefix", prefix, "version", version, "by", by.Subject)
	r.publish(Event{Type: EventBundleActivated, Prefix: prefix, Version: version, At: r.now().UTC()})
	return b, nil
}

// DeleteBundle deletes a version that is not active, for an
// administrator; ErrActive for the active one.
func (r *Registry) DeleteBundle(ctx context.Context, by auth.Principal, prefix, version string) error {
	if err := r.requireAdmin(ctx, by); err != nil {
		return err
	}
	if err := r.store.DeleteBundle(ctx, prefix, version); err != nil {
		return err
	}
	r.log.Info("bundle deleted", "prefix", prefix, "version", version, "by", by.Subject)
	r.publish(Event{Type: EventBundleDeleted, Prefix: prefix, Version: version, At: r.now().UTC()})
	return nil
}

// ActiveBundle is what a UI shell needs to load an extension's UI.
type ActiveBundle struct {
	Identifier string    `json:"identifier"`
	Prefix     string    `json:"prefix"`
	Version    string    `json:"version"`
	Entry      string    `json:"entry"`     // the entry module's URL
	Integrity  string    `json:"integrity"` // the entry module's SRI hash
	ImportMap  ImportMap `json:"importMap"` // resolved to URLs
}

// ActiveBundles returns the active bundle of every extension by may see,
// ordered by prefix, with import maps resolved to URLs.
func (r *Registry) ActiveBundles(ctx context.Context, by auth.Principal) ([]ActiveBundle, error) {
	all, err := r.store.ListBundles(ctx, "")
	if err != nil {
		return nil, err
	}
	out := []ActiveBundle{}
	for _, b := range all {
		if !b.Active || !r.canSee(ctx, by, b.Prefix) {
			continue
		}
		out = append(out, ActiveBundle{
			Identifier: b.Prefix, Prefix: b.Prefix, Version: b.Version,
			Entry: r.bundleURL(b.Prefix, b.Version, bundleEntry), Integrity: b.Integrity, ImportMap: r.resolve(b),
		})
	}
	slices.SortFunc(out, func(x, y ActiveBundle) int { return cmp.Compare(x.Prefix, y.Prefix) })
	return out, nil
}

// BundleFile returns one file of a published bundle and its description.
// Bundle files are the UI's code, which a browser imports without
// credentials, so this asks for no caller.
func (r *Registry) BundleFile(ctx context.Context, prefix, version, name string) (BundleFile, []byte, error) {
	return r.store.BundleFile(ctx, prefix, version, name)
}

func (r *Registry) requireAdmin(ctx context.Context, by auth.Principal) error {
	switch {
	case by.Subject == "":
		return ErrUnauthenticated
	case !r.isAdmin(ctx, by):
		return forbidden("administrators only")
	}
	return nil
}
