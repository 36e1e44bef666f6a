package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratamail/continuity/relayq"
)

// TestQueueActions checks that each Queue Manager action changes the
// real queue as it says.
func TestQueueActions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		held  bool // hold the entry first
		form  url.Values
		check func(t *testing.T, e *env, id, other string, n0 int)
	}{
		{"flush makes another attempt", false,
			url.Values{"op": {"flush"}},
			func(t *testing.T, e *env, id, _ string, n0 int) {
				e.waitEntry(id, "a second attempt",
					func(en relayq.Entry) bool { return en.Attempts == n0+1 })
			}},
		{"hold", false, url.Values{"op": {"hold"}},
			func(t *testing.T, e *env, id, _ string, n0 int) {
				if en, _ := e.entry(id); !en.Held {
					t.Error("not held")
				}
			}},
		{"release", true, url.Values{"op": {"release"}},
			func(t *testing.T, e *env, id, _ string, n0 int) {
				e.waitEntry(id, "a second attempt after release",
					func(en relayq.Entry) bool {
						return !en.Held && en.Attempts == n0+1
					})
			}},
		{"delete asks first", false, url.Values{"op": {"delete"}},
			func(t *testing.T, e *env, id, _ string, n0 int) {
				if _, ok := e.entry(id); !ok {
					t.Error("deleted without confirmation")
				}
			}},
		{"delete", false, url.Values{"op": {"delete"},
			"confirm": {"yes"}},
			func(t *testing.T, e *env, id, other string, n0 int) {
				if _, ok := e.entry(id); ok {
					t.Error("still queued")
				}
				if _, err := os.Stat(filepath.Join(e.qdir(),
					id+".json")); !os.IsNotExist(err) {
					entries, _ := os.ReadDir(e.qdir())
					t.Errorf("files left: %v", entries)
				}
				if _, ok := e.entry(other); !ok {
					t.Error("another entry went too")
				}
			}},
		{"flush-all", false, url.Values{"op": {"flush-all"}},
			func(t *testing.T, e *env, id, other string, n0 int) {
				e.waitEntry(id, "another attempt",
					func(en relayq.Entry) bool {
						return en.Attempts == n0+1
					})
				e.waitEntry(other, "an attempt",
					func(en relayq.Entry) bool {
						return en.LastError != ""
					})
			}},
		{"delete-all", false, url.Values{"op": {"delete-all"},
			"confirm": {"yes"}},
			func(t *testing.T, e *env, id, other string, n0 int) {
				es, _ := e.queue.List("")
				if len(es) != 1 || es[0].Domain != "other.test" {
					t.Errorf("left %+v, want other.test's entry", es)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "")
			id := e.enqueue("example.test", "one", "alice@example.test")
			other := e.enqueue("example.test", "two", "bob@example.test")
			e.enqueue("other.test", "three", "x@other.test")
			if tc.held {
				if err := e.queue.Hold(id); err != nil {
					t.Fatal(err)
				}
			}
			en, _ := e.entry(id)
			n0 := en.Attempts
			c := e.client()
			c.login()
			tc.form.Set("id", id)
			code, loc, body := c.action("example.test", tc.form)
			if tc.form.Get("op") == "delete" &&
				tc.form.Get("confirm") == "" {
				if code != http.StatusOK ||
					!strings.Contains(body, `name="confirm" value="yes"`) {
					t.Errorf("no confirmation form: %d\n%s", code, body)
				}
			} else if code != http.StatusSeeOther ||
				loc != "/queue/example.test" {
				t.Errorf("answer %d to %q, want 303 to the queue", code,
					loc)
			}
			tc.check(t, e, id, other, n0)
		})
	}
}

// TestQueueActionErrors checks that a refused action says why on the
// next page and changes nothing.
func TestQueueActionErrors(t *testing.T) {
	e := newEnv(t, "")
	id := e.enqueue("example.test", "one", "alice@example.test")
	otherDomain := e.enqueue("other.test", "two", "x@other.test")
	c := e.client()
	c.login()
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"release of an entry not held",
			url.Values{"op": {"release"}, "id": {id}}, "no such held entry"},
		{"entry of another domain",
			url.Values{"op": {"delete"}, "id": {otherDomain},
				"confirm": {"yes"}}, "is not in example.test&#39;s queue"},
		{"unknown entry", url.Values{"op": {"hold"}, "id": {"nope"}},
			"is not in example.test&#39;s queue"},
		{"unknown action", url.Values{"op": {"explode"}, "id": {id}},
			"unknown action"},
	} {
		code, _, _ := c.action("example.test", tc.form)
		if code != http.StatusSeeOther {
			t.Errorf("%s: %d, want 303", tc.name, code)
		}
		_, _, body := c.get("/queue/example.test")
		if !strings.Contains(body, tc.want) {
			t.Errorf("%s: the page does not say %q:\n%s", tc.name,
				tc.want, body)
		}
	}
	if en, ok := e.entry(id); !ok || en.Held {
		t.Errorf("entry changed: %+v, %v", en, ok)
	}
	if _, ok := e.entry(otherDomain); !ok {
		t.Error("another domain's entry was deleted")
	}
	if code, _, _ := c.action("nowhere.test",
		url.Values{"op": {"flush-all"}}); code != http.StatusNotFound {
		t.Errorf("unknown domain: %d, want 404", code)
	}
}

// TestQueuePage checks the table and the detail view of an entry, and
// that what a sender controls is escaped.
func TestQueuePage(t *testing.T) {
	e := newEnv(t, "")
	evil := `<script>alert("x")</script>`
	id := e.enqueue("example.test", evil, "alice@example.test")
	c := e.client()
	c.login()
	code, _, body := c.get("/queue/example.test")
	if code != http.StatusOK {
		t.Fatalf("queue page: %d", code)
	}
	for _, want := range []string{id, "sender@elsewhere.test",
		"alice@example.test", `<span id="count">1</span>`,
		`value="flush"`, `value="hold"`, `value="delete"`,
		`value="flush-all"`, `value="delete-all"`, "connect"} {
		if !strings.Contains(body, want) {
			t.Errorf("queue page lacks %q", want)
		}
	}
	code, _, body = c.get("/queue/example.test/entry/" + id)
	if code != http.StatusOK {
		t.Fatalf("entry page: %d", code)
	}
	if strings.Contains(body, evil) ||
		!strings.Contains(body, "Subject: &lt;script&gt;") {
		t.Errorf("the header is not escaped:\n%s", body)
	}
	for path, want := range map[string]int{
		"/queue/example.test/entry/nope": http.StatusNotFound,
		"/queue/other.test/entry/" + id:  http.StatusNotFound,
		"/queue/nowhere.test":            http.StatusNotFound,
		"/queue/EXAMPLE.test":            http.StatusOK,
		"/queue/local.test":              http.StatusOK,
	} {
		if code, _, _ := c.get(path); code != want {
			t.Errorf("GET %s: %d, want %d", path, code, want)
		}
	}
	_, _, body = c.get("/")
	for _, want := range []string{`href="/queue/example.test"`,
		`href="/uptime/other.test"`, "local.test", "not monitored"} {
		if !strings.Contains(body, want) {
			t.Errorf("domain list lacks %q", want)
		}
	}
}

// TestQueuePageCap checks that a long queue lists its oldest entries
// and says how many there are.
func TestQueuePageCap(t *testing.T) {
	defer func(n int) { maxRows = n }(maxRows)
	maxRows = 2
	e := newEnv(t, "")
	var ids []string
	for i := range 3 {
		ids = append(ids, e.enqueue("example.test", fmt.Sprint(i),
			"alice@example.test"))
	}
	c := e.client()
	c.login()
	_, _, body := c.get("/queue/example.test")
	if !strings.Contains(body, `<span id="count">3</span>`) ||
		!strings.Contains(body, "The oldest 2 are listed.") ||
		!strings.Contains(body, ids[1]) || strings.Contains(body, ids[2]) {
		t.Errorf("page of a capped queue:\n%s", body)
	}
}
