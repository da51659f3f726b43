package archive

import (
	"errors"
	"path"
	"strings"
)

// maxLinkHops bounds symlink chains during resolution, like the kernel's
// ELOOP limit.
const maxLinkHops = 40

var (
	errLinkEscapes = errors.New("resolves outside")
	errLinkLoop    = errors.New("too many levels of symbolic links")
	errLinkAbs     = errors.New("absolute target")
)

// splitPath splits a slash-separated relative path into its components,
// dropping empty ones and ".".
func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// within reports whether the cleaned relative path p equals base or lies
// below it, comparing whole components.
func within(p, base string) bool {
	if base == "" || base == "." {
		return true
	}
	if p == base {
		return true
	}
	return len(p) > len(base) && p[len(base)] == '/' && p[:len(base)] == base
}

// hasPrefixComponents reports whether the component list cur starts with base.
func hasPrefixComponents(cur, base []string) bool {
	if len(cur) < len(base) {
		return false
	}
	for i := range base {
		if cur[i] != base[i] {
			return false
		}
	}
	return true
}

// linkLookup tells, for a slash-separated relative path, whether it is a
// symlink and if so its target. Paths that do not exist are not links.
type linkLookup func(p string) (target string, isLink bool, err error)

// resolveInside resolves the symlink target found in directory dir (all
// components, relative to the tree root) the way the kernel would, following
// every symlink lookup knows about, and fails unless every step stays within
// base. Unknown components are taken to be directories. This is stricter
// than a lexical check: with "opt/x -> ." a later "opt/l -> x/.." is caught,
// because x/.. is the parent of opt.
func resolveInside(base, dir []string, target string, lookup linkLookup) error {
	if strings.HasPrefix(target, "/") {
		return errLinkAbs
	}
	if !hasPrefixComponents(dir, base) {
		return errLinkEscapes
	}
	cur := append([]string(nil), dir...)
	todo := strings.Split(target, "/")
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) <= len(base) {
				return errLinkEscapes
			}
			cur = cur[:len(cur)-1]
			continue
		}
		cur = append(cur, c)
		t, isLink, err := lookup(path.Join(cur...))
		if err != nil {
			return err
		}
		if !isLink {
			continue
		}
		hops++
		if hops > maxLinkHops {
			return errLinkLoop
		}
		if strings.HasPrefix(t, "/") {
			return errLinkAbs
		}
		cur = cur[:len(cur)-1]
		todo = append(strings.Split(t, "/"), todo...)
	}
	return nil
}
