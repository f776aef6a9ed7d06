//go:build !linux

package demo

import "syscall"

// sysProcAttr puts a server in its own process group (see the Linux version).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
