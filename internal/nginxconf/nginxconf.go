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
// writes under dir. The http-level proxy_cache_path is the one the site
// file documents in its comment "#   proxy_cache_path …", moved into dir.
func CachingProxy(site, dir, listen, origin string) (string, error) {
	var cachePath string
	for _, line := range strings.Split(site, "\n") {
		if rest, ok := strings.CutPrefix(line, "#   proxy_cache_path "); ok {
			cachePath = "proxy_cache_path " + strings.Replace(rest, "/var/cache/nginx/fecdeploy", dir+"/cache", 1)
		}
	}
	if cachePath == "" {
		return "", fmt.Errorf("the caching proxy site documents no proxy_cache_path")
	}
	s := strings.ReplaceAll(site, "listen 80;", "listen "+listen+";")
	s = strings.ReplaceAll(s, "listen [::]:80;", "")
	s = strings.ReplaceAll(s, "http://fecdeploy-origin.example.org", origin)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n"
	}
	return user + "worker_processes 2;\npid " + dir + "/nginx.pid;\nerror_log " + dir + "/error.log warn;\nevents { worker_connections 1024; }\nhttp {\n" +
		"access_log " + dir + "/access.log;\nclient_body_temp_path " + dir + "/cb;\nproxy_temp_path " + dir + "/p;\nfastcgi_temp_path " + dir + "/f;\nuwsgi_temp_path " + dir + "/u;\nscgi_temp_path " + dir + "/s;\n" +
		cachePath + "\n" + s + "\n}\n", nil
}
