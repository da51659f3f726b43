package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"sync"
	"syscall"

	"github.com/fair-acc/fecdeploy/archive"
	"github.com/fair-acc/fecdeploy/index"
	"github.com/fair-acc/fecdeploy/monitor"
)

// Monitoring (stage 2): fecs/<FEC>/monitor/ holds the FEC's monitoring
// declaration (package monitor has the format, docs/monitoring.md the
// description):
//
//	<base>/fecs/<FEC>/monitor/monitoring_groups   Icinga host groups, one a line
//	<base>/fecs/<FEC>/monitor/<service>           one check per file (key=value)
//
// Only FECs with a monitor/ folder are monitored, and only their folder is
// filled by releases: a productive link or switch of a software writes
// monitor/<software> from the archive's template (or the FESA default),
// a dev release or an unlink removes it. Files without software= are
// written by hand (fecctl monitor) and never touched by releases.

// maxTemplate is the largest monitoring template read from an archive.
const maxTemplate = 64 << 10

// AddressKey is the fec.conf key of the address Icinga checks a FEC at;
// without it, the FEC's DNS name is used.
const AddressKey = "address"

func monitorDir(fec string) (string, error) { return fecFile(fec, monitor.Dir) }

// MonitorHosts reads the monitoring declaration of every FEC that has a
// monitor/ folder, sorted by FEC name. Every invalid file is reported (the
// errors joined, each naming file and line); nothing is returned then.
func (s *Storage) MonitorHosts(ctx context.Context, o monitor.ParseOptions) ([]monitor.Host, error) {
	fecs, err := s.FECs(ctx)
	if err != nil {
		return nil, err
	}
	// FECs are read in parallel (the work is many small files); the
	// result keeps the sorted order.
	type result struct {
		h   monitor.Host
		ok  bool
		err error
	}
	results := make([]result, len(fecs))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < monitorReaders; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, smallFile)
			for i := range next {
				h, ok, err := s.monitorHost(fecs[i], o, buf)
				results[i] = result{h, ok, err}
			}
		}()
	}
	for i := range fecs {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var hosts []monitor.Host
	var errs []error
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
		} else if r.ok {
			hosts = append(hosts, r.h)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return hosts, nil
}

// monitorReaders is how many FECs MonitorHosts reads at once.
const monitorReaders = 8

// smallFile is the buffer readSmall reads a declaration file with.
const smallFile = 16 << 10

// readSmall reads a small file with open, read, close (os.ReadFile adds a
// stat and poller set-up: 100,000 declaration files make that count);
// files that fill buf are read again with os.ReadFile.
func readSmall(p string, buf []byte) ([]byte, error) {
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			syscall.Close(fd)
			return nil, &os.PathError{Op: "read", Path: p, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
	}
	syscall.Close(fd)
	if n == len(buf) {
		return os.ReadFile(p)
	}
	return bytes.Clone(buf[:n]), nil
}

func (s *Storage) monitorHost(fec string, o monitor.ParseOptions, buf []byte) (monitor.Host, bool, error) {
	dir, err := monitorDir(fec)
	if err != nil {
		return monitor.Host{}, false, err
	}
	ents, err := os.ReadDir(s.abs(dir))
	if errors.Is(err, os.ErrNotExist) {
		return monitor.Host{}, false, nil
	}
	if err != nil {
		return monitor.Host{}, false, fmt.Errorf("storage: reading %s: %w", dir, err)
	}
	c, err := s.readFECConf(fec)
	if err != nil {
		return monitor.Host{}, false, err
	}
	h := monitor.Host{Name: fec, Address: c.Other[AddressKey]}
	var errs []error
	for _, e := range ents {
		if isTemp(e.Name()) {
			continue
		}
		rel := path.Join(dir, e.Name())
		if !e.Type().IsRegular() {
			errs = append(errs, &monitor.SyntaxError{File: rel, Msg: "not a regular file; the monitor folder holds monitoring_groups and one file per service"})
			continue
		}
		data, err := readSmall(s.abs(rel), buf)
		if err != nil {
			errs = append(errs, fmt.Errorf("storage: %w", err))
			continue
		}
		if e.Name() == monitor.GroupsFile {
			h.Groups, err = monitor.ParseGroups(rel, data)
		} else {
			var svc monitor.Service
			svc, err = monitor.ParseService(rel, data, o)
			h.Services = append(h.Services, svc)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return h, true, errors.Join(errs...)
}

// MonitorServices lists FEC fec's monitoring declaration (nil Host.Services
// and ok false when it has no monitor/ folder).
func (s *Storage) MonitorServices(ctx context.Context, fec string) (h monitor.Host, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return h, false, err
	}
	if _, err := s.readFECConf(fec); err != nil {
		return h, false, err
	}
	return s.monitorHost(fec, monitor.ParseOptions{}, make([]byte, smallFile))
}

// AddMonitorService writes (or replaces) fecs/<fec>/monitor/<svc.Name>,
// creating the monitor/ folder (which makes the FEC monitored). The service
// is validated as the file will be read back; nothing is written on error.
func (s *Storage) AddMonitorService(ctx context.Context, fec string, svc monitor.Service) error {
	dir, err := monitorDir(fec)
	if err != nil {
		return err
	}
	data := svc.Marshal()
	rel := path.Join(dir, svc.Name)
	if _, err := monitor.ParseService(rel, data, monitor.ParseOptions{}); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return s.locked(ctx, func() error {
		if _, err := s.readFECConf(fec); err != nil {
			return err
		}
		if err := os.MkdirAll(s.abs(dir), 0o755); err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		if err := writeFileAtomic(s.abs(dir), svc.Name, 0o644, data); err != nil {
			return fmt.Errorf("storage: writing %s: %w", rel, err)
		}
		s.logger().Info("monitor service written", "fec", fec, "service", svc.Name, "check", svc.Kind)
		return nil
	})
}

// RemoveMonitorService removes fecs/<fec>/monitor/<name>; ErrNotFound when
// there is none.
func (s *Storage) RemoveMonitorService(ctx context.Context, fec, name string) error {
	if err := monitor.CheckServiceName(name); err != nil {
		return err
	}
	dir, err := monitorDir(fec)
	if err != nil {
		return err
	}
	return s.locked(ctx, func() error {
		if _, err := s.readFECConf(fec); err != nil {
			return err
		}
		if _, err := os.Lstat(s.abs(path.Join(dir, name))); err != nil {
			return fmt.Errorf("%w: FEC %s has no monitored service %s", ErrNotFound, fec, name)
		}
		return removeDurably(s.abs(dir), name)
	})
}

// SetMonitorGroups writes fecs/<fec>/monitor/monitoring_groups (creating
// the monitor/ folder); no groups removes the file.
func (s *Storage) SetMonitorGroups(ctx context.Context, fec string, groups []string) error {
	dir, err := monitorDir(fec)
	if err != nil {
		return err
	}
	data := monitor.MarshalGroups(groups)
	if _, err := monitor.ParseGroups(path.Join(dir, monitor.GroupsFile), data); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return s.locked(ctx, func() error {
		if _, err := s.readFECConf(fec); err != nil {
			return err
		}
		if err := os.MkdirAll(s.abs(dir), 0o755); err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		if len(groups) == 0 {
			return removeDurably(s.abs(dir), monitor.GroupsFile)
		}
		return writeFileAtomic(s.abs(dir), monitor.GroupsFile, 0o644, data)
	})
}

// syncMonitor brings fecs/<fec>/monitor/<name> in line with the FEC's
// software link after a link, switch or unlink (lock held): a productive
// version gets the check from its archive's template or the FESA default,
// a dev version, a broken link or no link removes it. Only FECs with a
// monitor/ folder, and only files the releases wrote (software=<name>), are
// touched. The link has taken effect already, so a failure here is logged
// as a warning (with what to do), not returned.
func (s *Storage) syncMonitor(ctx context.Context, fec string, kind index.Kind, name string) {
	if kind != index.KindSoftware {
		return
	}
	if err := s.syncMonitorErr(ctx, fec, name); err != nil {
		s.logger().Warn("monitoring not updated", "fec", fec, "software", name, "error", err,
			"fix", "fix the template and link again, or edit by hand with fecctl monitor add/rm")
	}
}

func (s *Storage) syncMonitorErr(ctx context.Context, fec, name string) error {
	dir, err := monitorDir(fec)
	if err != nil {
		return err
	}
	if st, err := os.Stat(s.abs(dir)); err != nil || !st.IsDir() {
		return nil // not monitored
	}
	rel := path.Join(dir, name)
	owned := true // the file is absent or written by releases of name
	if data, err := os.ReadFile(s.abs(rel)); err == nil {
		cur, perr := monitor.ParseService(rel, data, monitor.ParseOptions{})
		owned = perr == nil && cur.Software == name
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if !owned {
		s.logger().Info("monitor service left alone (written by hand)", "fec", fec, "file", rel)
		return nil
	}
	remove := func() error { return removeDurably(s.abs(dir), name) }
	l, err := s.currentLink(fec, name)
	if errors.Is(err, ErrNotFound) {
		return remove()
	}
	if err != nil {
		return err
	}
	if l.Target == "" || l.Version == "" || l.Version == index.DevVersion {
		return remove()
	}
	f, err := os.Open(s.abs(l.Target))
	if err != nil {
		return err
	}
	defer f.Close()
	file, tmpl, err := archive.FindFile(ctx, f, monitor.TemplateName, maxTemplate)
	if errors.Is(err, archive.ErrNoEntry) {
		tmpl, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("reading the monitoring template of %s: %w", l.Target, err)
	}
	svc, ok, err := monitor.FromTemplate(l.Target+":"+file, tmpl, fec, name, l.Version, monitor.ParseOptions{})
	if err != nil {
		return err
	}
	if !ok {
		return remove()
	}
	if err := writeFileAtomic(s.abs(dir), name, 0o644, svc.Marshal()); err != nil {
		return err
	}
	s.logger().Info("monitor service written", "fec", fec, "service", name, "version", l.Version)
	return nil
}

// syncMonitors is syncMonitor for every switched link.
func (s *Storage) syncMonitors(ctx context.Context, todo []pendingSwitch) {
	for _, p := range todo {
		s.syncMonitor(ctx, p.result.FEC, index.KindSoftware, p.result.Software)
	}
}

// ProblemBadMonitor: a file of a FEC's monitoring declaration that does not
// parse (Verify; fecctl icinga refuses to generate then).
const ProblemBadMonitor ProblemKind = "bad-monitor"

// checkMonitor reports every invalid file of the FEC's monitor/ folder.
func (v *verifier) checkMonitor(fec string) {
	_, _, err := v.s.monitorHost(fec, monitor.ParseOptions{}, make([]byte, smallFile))
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	dir, _ := monitorDir(fec)
	for _, e := range errs {
		p := dir
		var se *monitor.SyntaxError
		if errors.As(e, &se) {
			p = se.File
		}
		v.add(ProblemBadMonitor, p, fec, e.Error(), "fix the file (docs/monitoring.md) or edit it with fecctl monitor add/rm")
	}
}
