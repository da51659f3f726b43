//go:build !fectestclock

package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The binary a FEC runs has no way to set its clock from the environment:
// the hook exists only with -tags fectestclock.
func TestNoTestClockInTheShippedBinary(t *testing.T) {
	t.Parallel()
	assert.Nil(t, testClock, "fec-boot built without -tags fectestclock must use the system clock")
}
