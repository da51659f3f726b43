package monitor

import (
	"fmt"
	"strings"

	"github.com/fair-acc/fecdeploy/index"
)

// FESASuffix marks a FESA deploy unit by the FESA naming convention
// (Foo_DU); a release of one is monitored by default even without a
// template in its archive.
const FESASuffix = "_DU"

// FromTemplate makes the service check a productive release of software
// (version ver) on FEC fec adds to fecs/<fec>/monitor/<software>. tmpl is
// the content of the archive's fecdeploy-monitor.conf (nil when it has
// none): a service file whose values may use ${software}, ${version} and
// ${fec}. Without a template, a FESA deploy unit (name ending in _DU) gets
// a process check for a process of its name; other software gets none
// (ok false). file names the template in errors.
func FromTemplate(file string, tmpl []byte, fec, software, ver string, o ParseOptions) (svc Service, ok bool, err error) {
	if tmpl == nil {
		if !strings.HasSuffix(software, FESASuffix) {
			return Service{}, false, nil
		}
		return Service{Name: software, Kind: KindProcess, Process: software, Software: software, Version: ver}, true, nil
	}
	for _, v := range []string{fec, software, ver} {
		if err := index.CheckName("name", v); err != nil {
			return Service{}, false, err
		}
	}
	r := strings.NewReplacer("${software}", software, "${version}", ver, "${fec}", fec)
	body := r.Replace(string(tmpl))
	if i := strings.Index(body, "${"); i >= 0 {
		end := strings.IndexByte(body[i:], '}')
		if end < 0 {
			end = len(body) - i - 1
		}
		return Service{}, false, &SyntaxError{File: file, Line: 1 + strings.Count(body[:i], "\n"),
			Msg: fmt.Sprintf("unknown placeholder %s (known: ${software}, ${version}, ${fec})", body[i:i+end+1])}
	}
	svc, err = ParseService(file, []byte(body), o)
	if err != nil {
		return Service{}, false, err
	}
	if svc.Software != "" && svc.Software != software {
		return Service{}, false, &SyntaxError{File: file, Msg: fmt.Sprintf("software=%s, but the archive is %s", svc.Software, software)}
	}
	svc.Name, svc.Software, svc.Version = software, software, ver
	return svc, true, nil
}
