package conf

import (
	"strings"
	"testing"
)

func TestCheckHashSyntax(t *testing.T) {
	argon, err := HashArgon2id("change-me")
	if err != nil {
		t.Fatal(err)
	}
	// Costly parameters: checking the syntax must not compute them.
	costly := "$argon2id$v=19$m=4194304,t=64,p=1$c2FsdHNhbHQ$" +
		"aGFzaGhhc2hoYXNoaGFzaA"
	for _, tc := range []struct {
		hash, want string
	}{
		{testHash, ""},
		{argon, ""},
		{costly, ""},
		{"change-me", "not a bcrypt or $argon2id$ hash"},
		{"$2a$10$short", "not a bcrypt or $argon2id$ hash"},
		{"$argon2id$v=18$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
			"unsupported argon2id version"},
		{"$argon2id$v=19$m=1,t=1,p=1$c2Fs$aGFzaGhhc2hoYXNoaGFzaA",
			"bad argon2id salt"},
		{"$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
			"bad argon2id key"},
		{"$argon2id$v=19$m=1,t=1,p=1", "malformed $argon2id$ hash"},
	} {
		err := checkHashSyntax(tc.hash)
		if got := errText(err); !strings.HasPrefix(got, tc.want) ||
			(tc.want == "") != (err == nil) {
			t.Errorf("checkHashSyntax(%q) = %v, want %q", tc.hash, err,
				tc.want)
		}
	}
	if !VerifyHash(argon, "change-me") || VerifyHash(argon, "change-m") {
		t.Error("VerifyHash of argon2id")
	}
}

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("change-me")
	if err != nil || !VerifyHash(h, "change-me") || VerifyHash(h, "x") {
		t.Errorf("HashPassword: %q, %v", h, err)
	}
	for _, pw := range []string{"", strings.Repeat("x", 73)} {
		if _, err := HashPassword(pw); err == nil {
			t.Errorf("HashPassword of %d bytes: no error", len(pw))
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
