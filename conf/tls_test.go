package conf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePair writes a fresh self-signed certificate and its key into
// dir as NAME.crt and NAME.key and returns their paths.
func writePair(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mx.test"},
		DNSNames:     []string{"mx.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl,
		&key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(dir, name+".crt")
	kpath := filepath.Join(dir, name+".key")
	writePEM(t, cert, "CERTIFICATE", der)
	writePEM(t, kpath, "EC PRIVATE KEY", kder)
	return cert, kpath
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir, "a")
	_, otherKey := writePair(t, dir, "b")
	missing := filepath.Join(dir, "missing.crt")
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"a pair", cert, key, ""},
		{"no file", missing, key, "t.toml:5: tls.cert: cannot load " +
			"the pair: open " + missing + ": no such file or directory"},
		{"not a pair", cert, otherKey, "t.toml:5: tls.cert: cannot " +
			"load the pair: tls: private key does not match public key"},
		{"key for cert", key, key, "t.toml:5: tls.cert: cannot " +
			"load the pair: tls: failed to find certificate PEM data " +
			"in certificate input, but did find a private key; PEM " +
			"inputs may have been switched"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := okServer + "[tls]\ncert = " + quote(tc.cert) +
				"\nkey = " + quote(tc.key) + "\n"
			c, err := parse(text)
			if tc.want == "" {
				if err != nil || c.TLS.Certificate == nil ||
					c.TLS.Cert != tc.cert || c.TLS.Key != tc.key {
					t.Fatalf("got %+v, %v", c, err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// quote writes s as a TOML literal string.
func quote(s string) string {
	if strings.Contains(s, "'") {
		panic("quote: " + s)
	}
	return "'" + s + "'"
}
