package storage

import (
	"fmt"
	"path"
	"strings"

	"github.com/fair-acc/fecdeploy/index"
)

// The layout of a web storage, in one place. Every path the package touches
// is produced by pathFor from one of the typed specs below; nothing else
// concatenates storage paths. docs/storage-layout.md repeats this tree.
//
//	<base>/.fecdeploy-storage                  marker file ("fecdeploy-storage 1"); Open refuses a dir without it
//	<base>/.lock                               the storage lock (flock, advisory)
//	<base>/fecs/global/<script>                shared init scripts
//	<base>/fecs/<FEC>/fec.conf                 key=value: arch=x86_64, decoders=gzip,xz,zstd
//	<base>/fecs/<FEC>/init/<NN-name>           script, or symlink -> ../../global/<script>; run in name order
//	<base>/fecs/<FEC>/software/<name>          symlink -> ../../../software/<name>/<version>/<archive>
//	<base>/fecs/<FEC>/configuration/<name>     archive file, or symlink -> ../../../configuration/<name>/<version>/<archive>
//	<base>/fecs/<FEC>/persistent-data/<name>.tar.<ext>   opt-in: present only for FECs that persist data
//	<base>/fecs/<FEC>/INDEX, INDEX.sig         generated
//	<base>/software/<name>/<version>/<name>-<version>-<arch>.tar.<zst|gz|xz>      (+ .sha256 sidecar)
//	<base>/configuration/<name>/<version>/<name>-<version>.tar.<zst|gz|xz>        (+ .sha256 sidecar)
//
// Temporary files and directories start with ".fecdeploy-tmp-" and live next
// to their final name (same directory, so rename is atomic).

// File and directory names of the layout.
const (
	MarkerName  = ".fecdeploy-storage"
	LockName    = ".lock"
	FECsDir     = "fecs"
	GlobalDir   = index.ReservedFEC // "global"
	FECConfName = "fec.conf"
	SoftwareDir = "software"
	ConfigDir   = "configuration"
	InitDir     = "init"
	DataDir     = "persistent-data"
	// ChecksumSuffix names the sidecar holding an archive's sha256 in
	// sha256sum format ("<hex>  <file>\n"), written at publish.
	ChecksumSuffix = ".sha256"
	tmpPrefix      = ".fecdeploy-tmp-"
)

// MarkerContent is the content of the marker file for this layout version.
const MarkerContent = "fecdeploy-storage 1\n"

// pathSpec is one kind of path in the layout.
type pathSpec interface{ isPathSpec() }

type (
	markerPathSpec       struct{}
	lockPathSpec         struct{}
	fecsPathSpec         struct{}
	globalPathSpec       struct{}
	globalScriptPathSpec struct{ script string }
	fecPathSpec          struct{ fec string }
	fecConfPathSpec      struct{ fec string }
	fecIndexPathSpec     struct{ fec string }
	fecSigPathSpec       struct{ fec string }
	// fecKindPathSpec is fecs/<FEC>/<init|software|configuration|persistent-data>.
	fecKindPathSpec struct {
		fec  string
		kind index.Kind
	}
	// fecEntryPathSpec is one entry in a FEC's kind folder; for data, name
	// is the file name including its .tar.<ext>.
	fecEntryPathSpec struct {
		fec  string
		kind index.Kind
		name string
	}
	// treePathSpec is software/<name> or configuration/<name>.
	treePathSpec struct {
		kind index.Kind
		name string
	}
	versionPathSpec struct {
		kind          index.Kind
		name, version string
	}
	archivePathSpec struct {
		kind                index.Kind
		name, version, arch string
		format              index.Format
	}
)

func (markerPathSpec) isPathSpec()       {}
func (lockPathSpec) isPathSpec()         {}
func (fecsPathSpec) isPathSpec()         {}
func (globalPathSpec) isPathSpec()       {}
func (globalScriptPathSpec) isPathSpec() {}
func (fecPathSpec) isPathSpec()          {}
func (fecConfPathSpec) isPathSpec()      {}
func (fecIndexPathSpec) isPathSpec()     {}
func (fecSigPathSpec) isPathSpec()       {}
func (fecKindPathSpec) isPathSpec()      {}
func (fecEntryPathSpec) isPathSpec()     {}
func (treePathSpec) isPathSpec()         {}
func (versionPathSpec) isPathSpec()      {}
func (archivePathSpec) isPathSpec()      {}

// kindDir is the folder of a kind inside fecs/<FEC>/.
func kindDir(k index.Kind) (string, error) {
	switch k {
	case index.KindInit:
		return InitDir, nil
	case index.KindSoftware:
		return SoftwareDir, nil
	case index.KindConfiguration:
		return ConfigDir, nil
	case index.KindData:
		return DataDir, nil
	}
	return "", fmt.Errorf("%w: unknown kind %q (want init, software, configuration or data)", ErrBadRequest, k)
}

// treeDir is the top-level folder of published archives of a kind.
func treeDir(k index.Kind) (string, error) {
	switch k {
	case index.KindSoftware:
		return SoftwareDir, nil
	case index.KindConfiguration:
		return ConfigDir, nil
	}
	return "", fmt.Errorf("%w: kind %q is not published (only software and configuration are)", ErrBadRequest, k)
}

// ArchiveFileName is the file name of a published archive:
// <name>-<version>-<arch>.tar.<ext> for software, <name>-<version>.tar.<ext>
// for configuration.
func ArchiveFileName(kind index.Kind, name, version, arch string, format index.Format) (string, error) {
	p, err := pathFor(archivePathSpec{kind: kind, name: name, version: version, arch: arch, format: format})
	if err != nil {
		return "", err
	}
	return path.Base(p), nil
}

// IndexPath is the base-relative URL path of a FEC's INDEX.
func IndexPath(fec string) (string, error) { return pathFor(fecIndexPathSpec{fec}) }

// SignaturePath is the base-relative URL path of a FEC's INDEX.sig.
func SignaturePath(fec string) (string, error) { return pathFor(fecSigPathSpec{fec}) }

// pathFor maps a spec to its slash-separated path relative to the base,
// validating every name in it.
func pathFor(spec pathSpec) (string, error) {
	switch v := spec.(type) {
	case markerPathSpec:
		return MarkerName, nil
	case lockPathSpec:
		return LockName, nil
	case fecsPathSpec:
		return FECsDir, nil
	case globalPathSpec:
		return path.Join(FECsDir, GlobalDir), nil
	case globalScriptPathSpec:
		if err := index.CheckName("script name", v.script); err != nil {
			return "", err
		}
		return path.Join(FECsDir, GlobalDir, v.script), nil
	case fecPathSpec:
		if err := index.CheckFECName(v.fec); err != nil {
			return "", err
		}
		return path.Join(FECsDir, v.fec), nil
	case fecConfPathSpec:
		return fecFile(v.fec, FECConfName)
	case fecIndexPathSpec:
		return fecFile(v.fec, index.FileName)
	case fecSigPathSpec:
		return fecFile(v.fec, index.SigFileName)
	case fecKindPathSpec:
		d, err := kindDir(v.kind)
		if err != nil {
			return "", err
		}
		return fecFile(v.fec, d)
	case fecEntryPathSpec:
		d, err := kindDir(v.kind)
		if err != nil {
			return "", err
		}
		if err := index.CheckName(string(v.kind)+" name", v.name); err != nil {
			return "", err
		}
		p, err := fecFile(v.fec, d)
		if err != nil {
			return "", err
		}
		return path.Join(p, v.name), nil
	case treePathSpec:
		d, err := treeDir(v.kind)
		if err != nil {
			return "", err
		}
		if err := index.CheckName(string(v.kind)+" name", v.name); err != nil {
			return "", err
		}
		return path.Join(d, v.name), nil
	case versionPathSpec:
		p, err := pathFor(treePathSpec{v.kind, v.name})
		if err != nil {
			return "", err
		}
		if err := index.CheckName("version", v.version); err != nil {
			return "", err
		}
		return path.Join(p, v.version), nil
	case archivePathSpec:
		p, err := pathFor(versionPathSpec{v.kind, v.name, v.version})
		if err != nil {
			return "", err
		}
		ext := v.format.Extension()
		if ext == "" {
			return "", fmt.Errorf("%w: %q (want zstd, gzip or xz)", index.ErrUnknownFormat, v.format)
		}
		file := v.name + "-" + v.version
		switch v.kind {
		case index.KindSoftware:
			if err := index.CheckName("architecture", v.arch); err != nil {
				return "", err
			}
			file += "-" + v.arch
		case index.KindConfiguration:
			if v.arch != "" {
				return "", fmt.Errorf("%w: configuration archives have no architecture (got %q)", ErrBadRequest, v.arch)
			}
		}
		return path.Join(p, file+ext), nil
	}
	return "", fmt.Errorf("storage: unknown path spec %T", spec)
}

func fecFile(fec, file string) (string, error) {
	p, err := pathFor(fecPathSpec{fec})
	if err != nil {
		return "", err
	}
	return path.Join(p, file), nil
}

// archiveName is a published archive file name taken apart.
type archiveName struct {
	arch   string // "" for configuration
	format index.Format
}

// parseArchiveFileName takes apart a file name found in
// <tree>/<name>/<version>/; ok is false when it does not follow the layout.
func parseArchiveFileName(kind index.Kind, name, version, file string) (archiveName, bool) {
	stem, format, ok := index.SplitExtension(file)
	if !ok {
		return archiveName{}, false
	}
	prefix := name + "-" + version
	switch kind {
	case index.KindSoftware:
		arch, found := strings.CutPrefix(stem, prefix+"-")
		if !found || index.CheckName("architecture", arch) != nil {
			return archiveName{}, false
		}
		return archiveName{arch: arch, format: format}, true
	case index.KindConfiguration:
		if stem != prefix {
			return archiveName{}, false
		}
		return archiveName{format: format}, true
	}
	return archiveName{}, false
}

// treeLocation says where a base-relative path lies in the published trees:
// software/<name>/<version>/... or configuration/<name>/<version>/...
// Version (and name) are "" when the path is above that level.
type treeLocation struct {
	kind          index.Kind
	name, version string
	file          string // the rest below the version directory
}

func locateInTree(rel string) (treeLocation, bool) {
	parts := strings.SplitN(rel, "/", 4)
	var loc treeLocation
	switch parts[0] {
	case SoftwareDir:
		loc.kind = index.KindSoftware
	case ConfigDir:
		loc.kind = index.KindConfiguration
	default:
		return loc, false
	}
	if len(parts) > 1 {
		loc.name = parts[1]
	}
	if len(parts) > 2 {
		loc.version = parts[2]
	}
	if len(parts) > 3 {
		loc.file = parts[3]
	}
	return loc, true
}
