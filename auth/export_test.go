package auth

import "time"

// CheckTOTPForTest exposes the TOTP check to the external tests.
func CheckTOTPForTest(secret, code string, now time.Time) bool {
	_, ok := checkTOTP(secret, code, now, -1)
	return ok
}
