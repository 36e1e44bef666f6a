package smtpd

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// The LOGIN mechanism, which go-sasl has no server for. It has no RFC
// (draft-murchison-sasl-login, expired) but every client knows it, and
// Roundcube prefers it: the server prompts "Username:" and then
// "Password:" (base64 on the wire, which go-smtp does), and the client
// answers each. A client may send the user name as an initial response
// with AUTH LOGIN <base64>.

// errLoginState is returned for a response after the exchange ended.
var errLoginState = errors.New("sasl login: unexpected response")

// loginServer is one LOGIN exchange.
type loginServer struct {
	auth  func(username, password string) error
	step  int // 0: nothing yet, 1: user name asked for, 2: password
	user  string
	ended bool
}

// newLoginServer returns a LOGIN server that calls auth with what the
// client sends.
func newLoginServer(auth func(username, password string) error) sasl.Server {
	return &loginServer{auth: auth}
}

// Next takes the client's response and returns the next prompt, or
// done and auth's verdict.
func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	if l.ended {
		return nil, false, errLoginState
	}
	switch l.step {
	case 0:
		if response == nil { // no initial response
			l.step = 1
			return []byte("Username:"), false, nil
		}
		l.user, l.step = string(response), 2
		return []byte("Password:"), false, nil
	case 1:
		l.user, l.step = string(response), 2
		return []byte("Password:"), false, nil
	}
	l.ended = true
	return nil, true, l.auth(l.user, string(response))
}
