package conf

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

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

// BurnPassword spends about the time of a real password check, so that
// a login as an unknown user cannot be told apart by its timing.
func BurnPassword(password string) {
	VerifyHash(dummyHash(), password)
}

// dummyHash is a hash no password is checked against but the ones of
// unknown users.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("no user has this password")
	if err != nil {
		panic(err) // only for an empty or over-long password
	}
	return h
})

// checkHashSyntax returns an error when hash is in no form VerifyHash
// understands, so that a typo in the file is reported at load time.
func checkHashSyntax(hash string) error {
	if strings.HasPrefix(hash, "$argon2id$") {
		// Only parse: computing the hash here would make every load
		// of the file pay (or a bad file choose) its memory and time.
		_, err := parseArgon2id(hash)
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

// argon2Params are the parts of a PHC argon2id hash.
type argon2Params struct {
	m, t       uint32
	p          uint8
	salt, want []byte
}

// verifyArgon2id parses a PHC argon2id hash and compares password with
// it in constant time.
func verifyArgon2id(hash, password string) (bool, error) {
	a, err := parseArgon2id(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), a.salt, a.t, a.m, a.p,
		uint32(len(a.want)))
	return subtle.ConstantTimeCompare(got, a.want) == 1, nil
}

// parseArgon2id splits a PHC argon2id hash into its parts and checks
// them, without computing anything.
func parseArgon2id(hash string) (*argon2Params, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return nil, errors.New("malformed $argon2id$ hash")
	}
	var v int
	var a argon2Params
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil ||
		v != argon2.Version {
		return nil, errors.New("unsupported argon2id version")
	}
	_, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &a.m, &a.t, &a.p)
	if err != nil || a.m == 0 || a.m > 1<<22 || a.t == 0 || a.t > 64 ||
		a.p == 0 {
		return nil, errors.New("bad argon2id parameters")
	}
	b64 := base64.RawStdEncoding
	a.salt, err = b64.DecodeString(parts[4])
	if err != nil || len(a.salt) < 8 {
		return nil, errors.New("bad argon2id salt")
	}
	a.want, err = b64.DecodeString(parts[5])
	if err != nil || len(a.want) < 16 || len(a.want) > 64 {
		return nil, errors.New("bad argon2id key")
	}
	return &a, nil
}
