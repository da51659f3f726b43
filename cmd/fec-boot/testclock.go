//go:build fectestclock

package main

import (
	"fmt"
	"strconv"
	"time"
)

// Built only with `go build -tags fectestclock` (the trust tests in
// conformance/ do): FECDEPLOY_TEST_CLOCK=<unix seconds> sets the FEC's
// clock to that time (it stands still, like the shell tests' date), as on a
// FEC without a battery (1970) or with a clock far ahead (2038), for the
// expiry rules. The binary a FEC runs is built without the tag and has no
// such setting: its clock is the system's.
func init() {
	testClock = func(getenv func(string) string) (func() time.Time, error) {
		v := getenv("FECDEPLOY_TEST_CLOCK")
		if v == "" {
			return nil, nil
		}
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("FECDEPLOY_TEST_CLOCK=%q is not unix seconds", v)
		}
		now := time.Unix(secs, 0)
		return func() time.Time { return now }, nil
	}
}
