package openapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Source is one extension's OpenAPI document.
type Source struct {
	// ID is the extension's prefix: the path segment its operations go
	// under, and the namespace of its component names and operationIds.
	// 1-64 lowercase letters, digits, - and _.
	ID string
	// Name is the tag its operations are grouped under. Empty: ID.
	Name        string
	Description string
	// Document is the OpenAPI 3.0 document, as JSON.
	Document []byte
}

// Exclusion is an extension document left out of the aggregate, and why.
type Exclusion struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Report says what one aggregation did with each extension's document.
type Report struct {
	Included []string    `json:"included"`
	Excluded []Exclusion `json:"excluded"`
}

// componentKinds are the component maps of an OpenAPI 3.0 document.
var componentKinds = []string{
	"schemas", "responses", "parameters", "examples", "requestBodies", "headers", "securitySchemes", "links", "callbacks",
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// prepared is one extension's document, checked and rewritten into the
// aggregate's namespace, ready to be added: its paths and components as
// JSON, by key.
type prepared struct {
	id    string
	tag   json.RawMessage
	parts parts
}

// parts are the pieces of a document the aggregate is assembled from.
type parts struct {
	Paths      map[string]json.RawMessage            `json:"paths"`
	Components map[string]map[string]json.RawMessage `json:"components"`
}

// sourceError is a reason to leave a document out.
type sourceError struct{ reason string }

func (e *sourceError) Error() string { return e.reason }

func refuse(format string, args ...any) error { return &sourceError{fmt.Sprintf(format, args...)} }

// prepare checks src and rewrites it for the aggregate: its paths under
// pathPrefix+"/"+ID, its component names and operationIds prefixed with
// ID and a dot, every $ref and security requirement renamed to match, its
// operations tagged with Name, its servers dropped. Security schemes equal
// to one of platformSchemes are replaced by the platform's. A document
// with an external or non-component $ref, or one kin-openapi finds
// invalid, is refused.
func prepare(ctx context.Context, src Source, pathPrefix string, platformSchemes map[string]any, maxBytes int) (*prepared, error) {
	if len(src.Document) == 0 {
		return nil, refuse("no document")
	}
	if len(src.Document) > maxBytes {
		return nil, refuse("document is larger than %d bytes", maxBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(src.Document))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, refuse("not a JSON object: %v", err)
	}
	if dec.More() {
		return nil, refuse("trailing data after the document")
	}
	version, _ := doc["openapi"].(string)
	if !strings.HasPrefix(version, "3.0.") {
		return nil, refuse("openapi version %q: only 3.0.x documents are merged", version)
	}
	ns := src.ID + "."

	// Component names, and the new name of each security scheme.
	schemeNames := map[string]string{}
	if comps, ok := doc["components"].(map[string]any); ok {
		for _, kind := range componentKinds {
			m, ok := comps[kind].(map[string]any)
			if !ok {
				continue
			}
			renamed := make(map[string]any, len(m))
			for name, v := range m {
				if kind == "securitySchemes" {
					if same := equalScheme(platformSchemes, v); same != "" {
						schemeNames[name] = same
						renamed[same] = v // for validation on its own; dropped after
						continue
					}
					schemeNames[name] = ns + name
				}
				renamed[ns+name] = v
			}
			comps[kind] = renamed
		}
	}
	if err := rewriteRefs(doc, ns, "", ""); err != nil {
		return nil, err
	}
	rewriteSecurity(doc["security"], schemeNames)

	tagName := cmp.Or(src.Name, src.ID)
	delete(doc, "servers")
	delete(doc, "tags")
	paths, _ := doc["paths"].(map[string]any)
	newPaths := make(map[string]any, len(paths))
	for p, item := range paths {
		if !strings.HasPrefix(p, "/") {
			return nil, refuse("path %q does not start with /", p)
		}
		m, ok := item.(map[string]any)
		if !ok {
			return nil, refuse("path %q is not an object", p)
		}
		delete(m, "servers")
		for _, method := range httpMethods {
			op, ok := m[method].(map[string]any)
			if !ok {
				continue
			}
			if id, ok := op["operationId"].(string); ok {
				op["operationId"] = ns + id
			}
			op["tags"] = []any{tagName}
			delete(op, "servers")
			if sec, ok := op["security"]; ok {
				rewriteSecurity(sec, schemeNames)
			} else if top, ok := doc["security"]; ok {
				op["security"] = top
			}
		}
		key := pathPrefix + "/" + src.ID + p
		newPaths[key] = m
	}
	delete(doc, "security")
	doc["paths"] = newPaths

	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, refuse("re-encoding: %v", err)
	}
	t, err := load(ctx, raw)
	if err != nil {
		return nil, refuse("load: %v", err)
	}
	if err := t.Validate(ctx); err != nil {
		return nil, refuse("invalid: %v", err)
	}
	var ps parts
	if err := json.Unmarshal(raw, &ps); err != nil {
		return nil, refuse("re-decoding: %v", err)
	}
	for _, shared := range schemeNames {
		if !strings.HasPrefix(shared, ns) { // the platform's own, kept only for validation
			delete(ps.Components["securitySchemes"], shared)
		}
	}
	tag, err := json.Marshal(openapi3.Tag{Name: tagName, Description: src.Description})
	if err != nil {
		return nil, refuse("tag: %v", err)
	}
	return &prepared{id: src.ID, tag: tag, parts: ps}, nil
}

// equalScheme returns the name of the platform's security scheme equal to
// v, if there is one.
func equalScheme(platform map[string]any, v any) string {
	names := slices.Sorted(maps.Keys(platform))
	for _, name := range names {
		if reflect.DeepEqual(platform[name], v) {
			return name
		}
	}
	return ""
}

// skipKeys hold literal values (examples, defaults, enumerations) whose
// "$ref" keys are data, not references.
var skipKeys = map[string]bool{"example": true, "default": true, "enum": true, "const": true}

// rewriteRefs walks a decoded document and renames every $ref into the
// namespace ns. key is v's key in its parent object, parent the parent's
// own key: a property named "example" is walked, an example is not.
func rewriteRefs(v any, ns, key, parent string) error {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			renamed, err := renameRef(ref, ns)
			if err != nil {
				return err
			}
			v["$ref"] = renamed
		}
		names := key == "properties" || key == "patternProperties"
		for k, child := range v {
			if !names && (skipKeys[k] || strings.HasPrefix(k, "x-") || k == "value" && parent == "examples") {
				continue
			}
			if err := rewriteRefs(child, ns, k, key); err != nil {
				return err
			}
		}
	case []any:
		for _, child := range v {
			if err := rewriteRefs(child, ns, key, parent); err != nil {
				return err
			}
		}
	}
	return nil
}

// renameRef renames a local component reference into ns, and refuses any
// other kind.
func renameRef(ref, ns string) (string, error) {
	const local = "#/components/"
	if !strings.HasPrefix(ref, local) {
		if strings.HasPrefix(ref, "#") {
			return "", refuse("$ref %q: only references to #/components/ are merged", ref)
		}
		return "", refuse("external $ref %q refused", ref)
	}
	kind, name, ok := strings.Cut(ref[len(local):], "/")
	if !ok || !slices.Contains(componentKinds, kind) || name == "" || strings.Contains(name, "/") {
		return "", refuse("$ref %q does not name a component", ref)
	}
	return local + kind + "/" + ns + name, nil
}

// rewriteSecurity renames the schemes of a list of security requirements.
func rewriteSecurity(v any, names map[string]string) {
	reqs, ok := v.([]any)
	if !ok {
		return
	}
	for i, r := range reqs {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		renamed := make(map[string]any, len(m))
		for name, scopes := range m {
			if n, ok := names[name]; ok {
				name = n
			}
			renamed[name] = scopes
		}
		reqs[i] = renamed
	}
}

// add merges p into doc. A name already taken (a platform path or
// component that happens to sit in the extension's namespace) refuses p
// whole, leaving doc as it was.
func (doc *parts) add(p *prepared) error {
	for k := range p.parts.Paths {
		if _, ok := doc.Paths[k]; ok {
			return refuse("path %q is already in the document", k)
		}
	}
	for kind, m := range p.parts.Components {
		for name := range m {
			if _, ok := doc.Components[kind][name]; ok {
				return refuse("component %q is already in the document", name)
			}
		}
	}
	maps.Copy(doc.Paths, p.parts.Paths)
	for kind, m := range p.parts.Components {
		if doc.Components[kind] == nil {
			doc.Components[kind] = make(map[string]json.RawMessage, len(m))
		}
		maps.Copy(doc.Components[kind], m)
	}
	return nil
}

// load decodes a JSON document and resolves its references, with external
// references refused. It decodes with encoding/json rather than through
// the loader's YAML parser, which is several times slower.
func load(ctx context.Context, raw []byte) (*openapi3.T, error) {
	var t openapi3.T
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	loader.Context = ctx
	if err := loader.ResolveRefsIn(&t, nil); err != nil {
		return nil, err
	}
	return &t, nil
}
