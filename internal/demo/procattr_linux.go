package demo

import "syscall"

// sysProcAttr puts a server in its own process group (so that stopping it reaches any
// child it starts, and the terminal's Ctrl-C reaches only the demo, which stops the
// servers in order) and, on Linux, has it killed should the demo die without cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
