package conf

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// BcryptCost is the cost HashPassword uses. Roundcube logs in again on
// every web request, so a login must stay cheap: cost 10 takes tens of
// milliseconds.
const BcryptCost = 10

// HashPassword returns a bcrypt hash of password, in the form the
// password key of a [[user]] entry takes. bcrypt reads only the first 72
// bytes of a password, so longer ones are refused rather than silently
// shortened.
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	if len(password) > 72 {
		return "", errors.New("password longer than 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
	return string(h), err
}

// CheckPassword reports whether password matches the user's hash.
func (u *User) CheckPassword(password string) bool {
	return VerifyHash(u.PasswordHash, password)
}

// VerifyHash reports whether password matches hash, a bcrypt ($2a$,
// $2b$, $2y$) or PHC-form argon2id hash.
func VerifyHash(hash, password string) bool {
	if strings.HasPrefix(hash, "$argon2id$") {
		ok, err := verifyArgon2id(hash, password)
		return err == nil && ok
	}
	return bcrypt.CompareHashAndPassword([]byte(hash),
		[]byte(password)) == nil
}

// checkHashSyntax returns an error when hash is in no form VerifyHash
// understands, so that a typo in the file is reported at load time.
func checkHashSyntax(hash string) error {
	if strings.HasPrefix(hash, "$argon2id$") {
		_, err := verifyArgon2id(hash, "")
		return err
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return fmt.Errorf("not a bcrypt or $argon2id$ hash " +
			"(make one with stratamail hash-password)")
	}
	return nil
}

// HashArgon2id returns password hashed with argon2id in the PHC string
// form $argon2id$v=19$m=M,t=T,p=P$salt$hash (unpadded base64).
func HashArgon2id(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	const m, t, p = 19 * 1024, 2, 1 // OWASP's minimum recommendation
	key := argon2.IDKey([]byte(password), salt, t, m, p, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, m, t, p, b64.EncodeToString(salt),
		b64.EncodeToString(key)), nil
}

// verifyArgon2id parses a PHC argon2id hash and compares password with
// it in constant time.
func verifyArgon2id(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("malformed $argon2id$ hash")
	}
	var v int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil ||
		v != argon2.Version {
		return false, errors.New("unsupported argon2id version")
	}
	_, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p)
	if err != nil || m == 0 || m > 1<<22 || t == 0 || t > 64 || p == 0 {
		return false, errors.New("bad argon2id parameters")
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, errors.New("bad argon2id salt")
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, errors.New("bad argon2id key")
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p,
		uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
