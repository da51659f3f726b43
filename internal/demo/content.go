package demo

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
)

// The demo's content: small stand-ins for what a FESA deploy unit or a devacc
// library installs (a start script as "binary", shared libraries of
// pseudo-random bytes, XML instance files). Generated from a fixed seed, so
// the archives — and their sha256 — are the same on every run.

func writeFiles(dir string, files map[string]string) error {
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(body, "#!") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			return err
		}
	}
	return nil
}

func softwareTree(dir, name, version string) error {
	files := map[string]string{
		"bin/" + name: fmt.Sprintf("#!/bin/sh\necho \"%s %s running\"\n", name, version),
	}
	if err := writeFiles(dir, files); err != nil {
		return err
	}
	if err := libTree(dir, strings.ToLower(strings.TrimSuffix(name, "_DU")), 3); err != nil {
		return err
	}
	return nil
}

func libTree(dir, stem string, n int) error {
	rng := rand.New(rand.NewSource(int64(len(stem)*7919 + n)))
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, "lib", fmt.Sprintf("lib%s%d.so.1", stem, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		// Half random, half repetitive: compresses like real code does.
		b := make([]byte, 64<<10)
		rng.Read(b[:len(b)/2])
		for j := len(b) / 2; j < len(b); j++ {
			b[j] = byte(j % 61)
		}
		if err := os.WriteFile(p, b, 0o755); err != nil {
			return err
		}
	}
	return nil
}

func instanceTree(dir, du string, n int) error {
	files := map[string]string{}
	for i := 0; i < n; i++ {
		dev := fmt.Sprintf("%s_DEV%02d", strings.TrimSuffix(du, "_DU"), i)
		files[dev+".instance"] = fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<instance deploy-unit="%s">
  <device name="%s">
    <setting name="gain">%d</setting>
    <setting name="offset">0.%03d</setting>
    <timing event="CMD_SEQ_START" delay-us="%d"/>
  </device>
</instance>
`, du, dev, 10+i, i*37%1000, 100*i)
	}
	return writeFiles(dir, files)
}
