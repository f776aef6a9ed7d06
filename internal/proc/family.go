package proc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Family calls fn for pid and each of its children (a server's postmaster and its
// backends) with the fields of /proc/<p>/stat from the third on: f[1] is the parent,
// f[11] and f[12] utime and stime, f[13] and f[14] the children's (USER_HZ ticks).
// A process gone meanwhile is skipped.
func Family(pid int, fn func(p int, f []string)) error {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue // gone meanwhile
		}
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
		if ppid, _ := strconv.Atoi(f[1]); p != pid && ppid != pid {
			continue
		}
		fn(p, f)
	}
	return nil
}
