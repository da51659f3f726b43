package archive

import (
	"context"
	"fmt"
	"io"
	"os"
)

// CheckRules names the version of the safety rules Stage applies. A cache of
// checked archives (the writer's, keyed by sha256) is valid only for the
// rules it was made with: change this string whenever a rule changes.
const CheckRules = "3"

// Check applies every rule Stage applies (paths, depth, links, entry types,
// tar layout and PAX records, limits) to the archive in r without installing anything: it
// stages into a new directory below scratch ("" = the system's temporary
// directory) and removes it again. The writer uses it as a second line of
// defence, so that an archive a client would refuse never reaches an INDEX.
// opts.AllowedRoots are the roots the FECs allow (default {"opt"}).
func Check(ctx context.Context, r io.Reader, scratch string, opts UnpackOptions) (Result, error) {
	dir, err := os.MkdirTemp(scratch, "fecdeploy-check-")
	if err != nil {
		return Result{}, fmt.Errorf("archive: check: %w", err)
	}
	defer os.RemoveAll(dir)
	st, err := Stage(ctx, r, dir, opts)
	if err != nil {
		return Result{}, err
	}
	res := st.res
	if err := st.Discard(); err != nil {
		return res, fmt.Errorf("archive: check: removing the staging directory: %w", err)
	}
	return res, nil
}
