package portal

import (
	"bytes"
	"html/template"
	"net/http"
	"time"

	"github.com/stratamail/continuity/monitor"
)

// pageNames are the templates/NAME.html pages; each defines "content"
// for templates/layout.html.
var pageNames = []string{"login", "domains", "queue", "entry",
	"confirm", "uptime"}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(timeFormat)
	},
	"act": actionsOf,
	"add": func(n, f float64) float64 { return f + n },
	"color": func(s monitor.State) string {
		switch s {
		case monitor.StateUp:
			return "#2e9e44"
		case monitor.StateDown:
			return "#d93a3a"
		}
		return "#b0b0b0"
	},
}

// entryActions are the buttons of one queue entry.
type entryActions struct {
	Domain, ID, CSRF string
	Ops              []string
}

// actionsOf returns the buttons of the entry id: a held entry can be
// released, another flushed or held; any can be deleted.
func actionsOf(domain, id string, held bool, csrf string) entryActions {
	a := entryActions{Domain: domain, ID: id, CSRF: csrf,
		Ops: []string{"flush", "hold", "delete"}}
	if held {
		a.Ops = []string{"release", "delete"}
	}
	return a
}

// parsePages parses every page with the layout.
func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(
			templateFS, "templates/layout.html",
			"templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// page renders the page name for the session's operator, with the
// message of the last action, if any.
func (s *Server) page(w http.ResponseWriter, r *http.Request,
	sess *session, name, title string, body any) {
	s.render(w, http.StatusOK, name, pageData{Title: title,
		Operator: sess.operator, CSRF: sess.csrf,
		Flash: s.takeFlash(sess), Body: body})
}

// render executes the page name into a buffer first, so that an error
// never leaves half a page.
func (s *Server) render(w http.ResponseWriter, status int, name string,
	data pageData) {
	var b bytes.Buffer
	if err := s.pages[name].Execute(&b, data); err != nil {
		s.log.Error("portal: page not rendered", "page", name,
			"err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// serverError logs err and answers 500 with no detail.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request,
	err error) {
	s.log.Error("portal: request failed", "path", r.URL.Path,
		"err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}
