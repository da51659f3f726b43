// Package nginxconf writes the nginx configuration that internal/testenv and
// the benchmarks under bench/ run: one server on 127.0.0.1 serving a
// directory for GET only, everything nginx writes kept in one directory.
package nginxconf

import (
	"fmt"
	"os"
	"strings"
)

// Options describe one server.
type Options struct {
	Dir  string // nginx's prefix: pid file, error log, temp directories
	Port int    // listens on 127.0.0.1:Port
	Root string // the directory served (absolute)
	// AccessLog is the access_log argument: a file, or "" for off.
	AccessLog string
	// HTTP is inserted into the http block (e.g. types, limit_req_zone).
	HTTP string
	// Extra is inserted into the server block (e.g. a location returning 503).
	Extra string
}

// Config returns the text of nginx.conf. As root it adds "user root;": the
// workers would otherwise drop to nobody, who cannot read a 0700 temp dir.
func Config(o Options) string {
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	accessLog := o.AccessLog
	if accessLog == "" {
		accessLog = "off"
	}
	return fmt.Sprintf(`%s
worker_processes 2;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 512; }
http {
    access_log %[5]s;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    default_type application/octet-stream;
    sendfile on;
    etag on;
    %[6]s
    server {
        listen 127.0.0.1:%[3]d;
        root %[4]s;
        location / {
            limit_except GET { deny all; }
        }
        %[7]s
    }
}
`, user, o.Dir, o.Port, o.Root, accessLog, o.HTTP, o.Extra)
}

// CachingProxy returns a complete nginx.conf around site, the text of
// examples/nginx/caching-proxy.conf: listening on listen (host:port),
// proxying to origin (http://host:port), its cache and everything nginx
// writes under dir. The http-level directives and the worker limits are the
// ones the site file documents in its comments ("#   proxy_cache_path …",
// "#   limit_conn_zone …", "#   events { … }"), the cache moved into dir.
func CachingProxy(site, dir, listen, origin string) (string, error) {
	doc := documented(site)
	if !strings.Contains(doc.http, "proxy_cache_path ") {
		return "", fmt.Errorf("the caching proxy site documents no proxy_cache_path")
	}
	s := strings.ReplaceAll(site, "http://fecdeploy-origin.example.org", origin)
	return wrap(doc, dir, listen, strings.Replace(doc.http, "/var/cache/nginx/fecdeploy", dir+"/cache", 1), s), nil
}

// Origin returns a complete nginx.conf around site, the text of
// examples/nginx/fecdeploy.conf (the production web storage): listening on
// listen (host:port), serving root, everything nginx writes under dir, with
// the http-level limit zones and worker limits the site file documents in
// its comments.
func Origin(site, dir, listen, root string) (string, error) {
	doc := documented(site)
	if !strings.Contains(site, "root /srv/web-storage;") {
		return "", fmt.Errorf("the origin site has no \"root /srv/web-storage;\" to replace")
	}
	s := strings.Replace(site, "root /srv/web-storage;", "root "+root+";", 1)
	return wrap(doc, dir, listen, "default_type application/octet-stream;\n"+doc.http, s), nil
}

// siteDoc is what a site file documents for the places outside the server block.
type siteDoc struct {
	http   string // directives for the http block
	main   string // directives for the main context (worker_rlimit_nofile)
	events string // the events block
}

// documented collects the directives a site file's comments give for the
// http block ("#   proxy_cache_path …", "#   limit_…_zone …") and nginx.conf
// ("#   worker_rlimit_nofile …", "#   events { … }").
func documented(site string) siteDoc {
	d := siteDoc{events: "events { worker_connections 1024; }"}
	for _, line := range strings.Split(site, "\n") {
		rest, ok := strings.CutPrefix(line, "#   ")
		if !ok {
			continue
		}
		switch f := strings.Fields(rest); {
		case len(f) == 0:
		case f[0] == "proxy_cache_path" || strings.HasPrefix(f[0], "limit_") && strings.HasSuffix(f[0], "_zone"):
			d.http += rest + "\n"
		case f[0] == "worker_rlimit_nofile":
			d.main += rest + "\n"
		case f[0] == "events":
			d.events = rest
		}
	}
	return d
}

// wrap puts the server block site (its listen lines replaced by listen)
// into a complete nginx.conf writing under dir. As root it adds "user
// root;" (see Config).
func wrap(d siteDoc, dir, listen, httpLines, site string) string {
	s := strings.ReplaceAll(site, "listen 80;", "listen "+listen+";")
	s = strings.ReplaceAll(s, "listen [::]:80;", "")
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n"
	}
	return user + "worker_processes 2;\n" + d.main + "pid " + dir + "/nginx.pid;\nerror_log " + dir + "/error.log warn;\n" + d.events + "\nhttp {\n" +
		"access_log " + dir + "/access.log;\nclient_body_temp_path " + dir + "/cb;\nproxy_temp_path " + dir + "/p;\nfastcgi_temp_path " + dir + "/f;\nuwsgi_temp_path " + dir + "/u;\nscgi_temp_path " + dir + "/s;\n" +
		httpLines + s + "\n}\n"
}
