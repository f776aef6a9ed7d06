package proc

import (
	"fmt"
	"io"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
)

// StartAs is Start with the process running as the named user (a test running as root
// starts PostgreSQL, which refuses root, as the postgres user; empty: as this process's
// user), its output watched for the lines watch names (WaitLog). Switching users needs
// the privilege to.
func StartAs(name, bin string, args []string, out io.Writer, userName string, watch ...string) (*Process, error) {
	cmd := exec.Command(bin, args...)
	log := &logWatch{out: out, wants: watch, seen: make([]bool, len(watch))}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if userName != "" {
		cred, err := Credential(userName)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		cmd.SysProcAttr.Credential = cred
	}
	// PostgreSQL reads its own user's environment (HOME) for nothing it needs; a neutral
	// working directory keeps it from failing on root's.
	cmd.Dir = "/"
	return run(name, cmd, log)
}

// Credential returns the uid and gid of the named user, for exec.Cmd.SysProcAttr.
func Credential(userName string) (*syscall.Credential, error) {
	u, err := user.Lookup(userName)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q: %w", userName, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q: %w", userName, u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
