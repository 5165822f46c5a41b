package extension

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portico-dev/portico/auth"
)

// Licence errors.
var (
	// ErrLicenseInvalid is a licence that is malformed or not signed by
	// a configured vendor key.
	ErrLicenseInvalid = errors.New("extension: licence is invalid")
	// ErrLicenseExpired is a licence past its expiry.
	ErrLicenseExpired = errors.New("extension: licence has expired")
	// ErrLicensingOff answers licence requests when Config.LicenseKeys is
	// empty.
	ErrLicensingOff = errors.New("extension: licensing is not configured")
)

// License is a vendor-issued licence: who holds it, when it ends and what
// it entitles them to.
type License struct {
	ID           string       `json:"id"`
	Licensee     string       `json:"licensee"`
	IssuedAt     time.Time    `json:"issued_at"`
	ExpiresAt    time.Time    `json:"expires_at"`
	Entitlements Entitlements `json:"entitlements"`
}

// Entitlements are what a licence allows.
type Entitlements struct {
	// MaxExtensions caps the extensions that may be registered; zero is
	// no cap.
	MaxExtensions int `json:"max_extensions"`
	// Features are named capabilities, shown to the host and UI.
	Features []string `json:"features,omitempty"`
}

// A licence token is "v1.<payload>.<signature>": the licence as JSON and
// the Ed25519 signature of "portico-license.v1.<payload>", both base64url
// without padding.
const (
	licenseVersion = "v1"
	licenseContext = "portico-license."
	maxLicense     = 16 << 10
)

// SignLicense signs l with the vendor's key. It is the vendor's tool, not
// the platform's; the platform only verifies.
func SignLicense(key ed25519.PrivateKey, l License) (string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", errors.New("extension: licence key must be an Ed25519 private key")
	}
	payload, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	signed := licenseVersion + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig := ed25519.Sign(key, []byte(licenseContext+signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// ParseLicense verifies a licence token against the vendor keys and
// returns the licence; ErrLicenseInvalid if it is malformed or signed by
// none of them, ErrLicenseExpired (with the licence) if it ended before
// now.
func ParseLicense(token string, keys []ed25519.PublicKey, now time.Time) (License, error) {
	token = strings.TrimSpace(token)
	if len(token) > maxLicense {
		return License{}, fmt.Errorf("%w: longer than %d bytes", ErrLicenseInvalid, maxLicense)
	}
	version, rest, _ := strings.Cut(token, ".")
	payload, sig, ok := strings.Cut(rest, ".")
	if version != licenseVersion || !ok {
		return License{}, fmt.Errorf("%w: not a %s licence", ErrLicenseInvalid, licenseVersion)
	}
	rawSig, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(rawSig) != ed25519.SignatureSize {
		return License{}, fmt.Errorf("%w: bad signature encoding", ErrLicenseInvalid)
	}
	msg := []byte(licenseContext + version + "." + payload)
	verified := false
	for _, k := range keys {
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, msg, rawSig) {
			verified = true
			break
		}
	}
	if !verified {
		return License{}, fmt.Errorf("%w: signature does not verify", ErrLicenseInvalid)
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return License{}, fmt.Errorf("%w: bad payload encoding", ErrLicenseInvalid)
	}
	var l License
	if err := json.Unmarshal(raw, &l); err != nil {
		return License{}, fmt.Errorf("%w: bad payload", ErrLicenseInvalid)
	}
	switch {
	case l.ID == "" || l.ExpiresAt.IsZero():
		return License{}, fmt.Errorf("%w: id and expires_at are required", ErrLicenseInvalid)
	case l.Entitlements.MaxExtensions < 0:
		return License{}, fmt.Errorf("%w: negative max_extensions", ErrLicenseInvalid)
	case !now.Before(l.ExpiresAt):
		return l, ErrLicenseExpired
	}
	return l, nil
}

// LicenseStatus is the installed licence and what it entitles to now.
type LicenseStatus struct {
	// Status is "valid", "expired", "none" (no licence installed) or
	// "unconfigured" (no vendor key, so licences are not used).
	Status  string   `json:"status"`
	License *License `json:"license,omitempty"`
	// Entitlements are the ones in force: the licence's while it is
	// valid, else Config.Unlicensed.
	Entitlements Entitlements `json:"entitlements"`
}

// License reports the installed licence and the entitlements in force.
func (r *Registry) License(ctx context.Context) (LicenseStatus, error) {
	if len(r.cfg.LicenseKeys) == 0 {
		return LicenseStatus{Status: "unconfigured", Entitlements: Entitlements{MaxExtensions: r.cfg.MaxExtensions}}, nil
	}
	token, err := r.store.GetLicense(ctx)
	if errors.Is(err, ErrNotFound) {
		return LicenseStatus{Status: "none", Entitlements: r.cfg.Unlicensed}, nil
	}
	if err != nil {
		return LicenseStatus{}, err
	}
	l, err := ParseLicense(token, r.cfg.LicenseKeys, r.now())
	switch {
	case errors.Is(err, ErrLicenseExpired):
		return LicenseStatus{Status: "expired", License: &l, Entitlements: r.cfg.Unlicensed}, nil
	case err != nil: // the vendor key changed since it was installed
		r.log.Warn("installed licence no longer verifies", "err", err)
		return LicenseStatus{Status: "none", Entitlements: r.cfg.Unlicensed}, nil
	}
	return LicenseStatus{Status: "valid", License: &l, Entitlements: l.Entitlements}, nil
}

// InstallLicense verifies a licence token and installs it, for an
// administrator, replacing any other. An expired or invalid licence is
// refused and the installed one kept.
func (r *Registry) InstallLicense(ctx context.Context, by auth.Principal, token string) (LicenseStatus, error) {
	if err := r.requireAdmin(ctx, by); err != nil {
		return LicenseStatus{}, err
	}
	if len(r.cfg.LicenseKeys) == 0 {
		return LicenseStatus{}, ErrLicensingOff
	}
	l, err := ParseLicense(token, r.cfg.LicenseKeys, r.now())
	if err != nil {
		return LicenseStatus{}, err
	}
	if err := r.store.PutLicense(ctx, strings.TrimSpace(token)); err != nil {
		return LicenseStatus{}, err
	}
	r.log.Info("licence installed", "id", l.ID, "licensee", l.Licensee, "expires_at", l.ExpiresAt, "by", by.Subject)
	return LicenseStatus{Status: "valid", License: &l, Entitlements: l.Entitlements}, nil
}

// maxExtensions is the cap in force: the smaller of Config.MaxExtensions
// and the licence's, zero for none.
func (r *Registry) maxExtensions(ctx context.Context) (int, error) {
	max := r.cfg.MaxExtensions
	if len(r.cfg.LicenseKeys) == 0 {
		return max, nil
	}
	st, err := r.License(ctx)
	if err != nil {
		return 0, err
	}
	if l := st.Entitlements.MaxExtensions; l > 0 && (max == 0 || l < max) {
		max = l
	}
	return max, nil
}
