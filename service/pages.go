package service

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// The pages are server-rendered HTML without JavaScript, readable on a
// phone (viewport, one narrow column, tables that scroll sideways), and
// refresh themselves with <meta http-equiv="refresh">.
var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"cls":   func(s State) string { return strings.ReplaceAll(string(s), " ", "-") },
	"short": func(s string) string { return s[:min(12, len(s))] },
	"join":  func(xs []string) string { return strings.Join(xs, ", ") },
	"versions": func(m map[string]string) string {
		var b []string
		for k, v := range m {
			b = append(b, k+" "+v)
		}
		sortStrings(b)
		return strings.Join(b, ", ")
	},
}).Parse(`{{define "head"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}}">{{end}}
<title>{{.Title}} · fecd</title>
<style>
body{font-family:system-ui,sans-serif;margin:0.5em;color:#111;background:#fff}
h1{font-size:1.3em;margin:0.3em 0} h2{font-size:1.1em}
.wrap{overflow-x:auto} table{border-collapse:collapse;width:100%;font-size:0.9em}
th,td{border-bottom:1px solid #ccc;padding:0.25em 0.4em;text-align:left;vertical-align:top}
th{background:#eee;position:sticky;top:0}
.up-to-date{color:#060}.behind{color:#a60;font-weight:bold}.failed{color:#b00;font-weight:bold}
.never-reported{color:#666}.no-INDEX{color:#b00}
.warn{background:#fff3cd;padding:0.4em;border:1px solid #e0c060}
.sum span{margin-right:1em} code{font-size:0.95em} td:first-child{white-space:nowrap}
</style></head><body>
<nav><a href="/">Fleet</a></nav>
{{if .Rebuilt}}<p class="warn" id="rebuilt">The database was created at {{.Rebuilt}} and filled from the storage: history before then is not known.</p>{{end}}
{{end}}
{{define "fleet"}}{{template "head" .}}
<h1>Fleet</h1>
<p class="sum">{{range .Counts}}<span class="{{cls .State}}">{{.State}}: {{.N}}</span>{{end}}<span>generated {{ts .Now}}</span></p>
<div class="wrap"><table id="fleet">
<thead><tr><th>FEC</th><th>state</th><th>desired (INDEX)</th><th>actual (last boot)</th><th>last boot</th><th>report age</th><th>failures</th><th>dev</th></tr></thead>
<tbody>{{range .FECs}}<tr class="fec" data-fec="{{.Name}}" data-state="{{.State}}">
<td><a href="/fec/{{.Name}}">{{.Name}}</a></td><td class="{{cls .State}}">{{.State}}</td>
<td>{{versions .Desired}}{{if .IndexError}} <span class="failed">{{.IndexError}}</span>{{end}}</td>
<td>{{versions .Actual}}</td><td>{{ts .LastBoot}}</td><td>{{.ReportAge}}</td>
<td class="failed">{{join .Failures}}</td><td>{{join .Dev}}</td></tr>
{{end}}</tbody></table></div>
</body></html>{{end}}
{{define "fec"}}{{template "head" .}}
{{with .FEC}}<h1>FEC {{.Name}}</h1>
<p>architecture {{.Arch}} · state <span class="{{cls .State}}" id="state">{{.State}}</span>
· INDEX <code>{{short .IndexSHA256}}</code>{{with .Report}} · last report {{ts .Received}} from {{.Remote}} (INDEX <code>{{short .IndexSHA256}}</code>, exit {{.ExitCode}}){{end}}</p>
{{if .IndexError}}<p class="failed">{{.IndexError}}</p>{{end}}
<h2>INDEX (desired)</h2>
<div class="wrap"><table id="index"><thead><tr><th>kind</th><th>name</th><th>version</th><th>sha256</th><th>running</th></tr></thead><tbody>
{{$act := .Actual}}{{range .Entries}}<tr><td>{{.Kind}}</td><td>{{if eq (print .Kind) "software"}}<a href="/software/{{.Name}}">{{.Name}}</a>{{else}}{{.Name}}{{end}}</td><td>{{.Version}}</td><td><code>{{short .SHA256}}</code></td><td>{{index $act .Name}}</td></tr>
{{end}}</tbody></table></div>
{{if .Failures}}<h2>Failures of the last boot</h2><ul>{{range .Failures}}<li class="failed">{{.}}</li>{{end}}</ul>{{end}}
{{end}}
<h2>History</h2>
<div class="wrap"><table id="history"><thead><tr><th>when</th><th>who</th><th>what</th><th>software</th><th>version</th><th>ok</th><th>detail</th></tr></thead><tbody>
{{range .Audit}}<tr><td>{{ts .At}}</td><td>{{.Actor}}</td><td>{{.Action}}</td><td>{{.Software}}</td><td>{{.Version}}</td><td>{{if .OK}}yes{{else}}<span class="failed">no</span>{{end}}</td><td>{{.Detail}}</td></tr>
{{end}}</tbody></table></div>
</body></html>{{end}}
{{define "software"}}{{template "head" .}}
{{with .SW}}<h1>Software {{.Name}}</h1>
<h2>FECs</h2>
<div class="wrap"><table id="uses"><thead><tr><th>FEC</th><th>linked version</th><th>running (last boot)</th></tr></thead><tbody>
{{$run := .Running}}{{range .Uses}}<tr><td><a href="/fec/{{.FEC}}">{{.FEC}}</a></td><td>{{.Version}}</td><td>{{index $run .FEC}}</td></tr>
{{end}}</tbody></table></div>
<h2>Versions kept and why</h2>
<div class="wrap"><table id="versions"><thead><tr><th>version</th><th>decision</th><th>why</th></tr></thead><tbody>
{{range .Plan}}<tr><td>{{.Version}}</td><td>{{.Action}}</td><td>{{.Text}}</td></tr>
{{end}}</tbody></table></div>
<h2>Releases</h2>
<div class="wrap"><table id="releases"><thead><tr><th>when</th><th>who</th><th>version</th><th>arch</th><th>FECs</th><th>result</th></tr></thead><tbody>
{{range .Releases}}<tr><td>{{ts .At}}</td><td>{{.Actor}}</td><td>{{.Version}}</td><td>{{.Arch}}</td><td>{{join .FECs}}</td><td>{{.Result}}</td></tr>
{{end}}</tbody></table></div>
{{end}}
</body></html>{{end}}`))

func sortStrings(xs []string) {
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && xs[j] < xs[j-1]; j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
}

type pageBase struct {
	Title   string
	Refresh int
	Rebuilt string
	Now     time.Time
}

func (s *Service) base(title string) pageBase {
	b := pageBase{Title: title, Rebuilt: s.rebuilt, Now: s.opt.Now()}
	if s.opt.Refresh > 0 {
		b.Refresh = int(s.opt.Refresh.Seconds())
	}
	return b
}

func (s *Service) render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

func (s *Service) pageError(w http.ResponseWriter, err error) {
	http.Error(w, err.Error(), statusOf(err))
}

func (s *Service) pageFleet(w http.ResponseWriter, r *http.Request) {
	views, err := s.Fleet(r.Context())
	if err != nil {
		s.pageError(w, err)
		return
	}
	type count struct {
		State State
		N     int
	}
	n := map[State]int{}
	for _, v := range views {
		n[v.State]++
	}
	var counts []count
	for _, st := range []State{StateUpToDate, StateBehind, StateFailed, StateNever, StateUnknown} {
		if n[st] > 0 {
			counts = append(counts, count{st, n[st]})
		}
	}
	s.render(w, "fleet", struct {
		pageBase
		FECs   []FECView
		Counts []count
	}{s.base("Fleet"), views, counts})
}

func (s *Service) pageFEC(w http.ResponseWriter, r *http.Request) {
	v, err := s.FECDetail(r.Context(), r.PathValue("fec"))
	if err != nil {
		s.pageError(w, err)
		return
	}
	a, err := s.db.Audits(r.Context(), AuditFilter{FEC: v.Name, Limit: 50})
	if err != nil {
		s.pageError(w, err)
		return
	}
	s.render(w, "fec", struct {
		pageBase
		FEC   FECView
		Audit []Audit
	}{s.base("FEC " + v.Name), v, a})
}

func (s *Service) pageSoftware(w http.ResponseWriter, r *http.Request) {
	v, err := s.Software(r.Context(), r.PathValue("name"))
	if err != nil {
		s.pageError(w, err)
		return
	}
	s.render(w, "software", struct {
		pageBase
		SW SoftwareView
	}{s.base("Software " + v.Name), v})
}
