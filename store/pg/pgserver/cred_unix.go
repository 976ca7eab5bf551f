//go:build unix

package pgserver

import (
	"os/exec"
	"syscall"
)

type credential struct{ uid, gid uint32 }

// setCredential runs cmd as another user (initdb and postgres refuse root).
func setCredential(cmd *exec.Cmd, c *credential) {
	if c == nil {
		return
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: c.uid, Gid: c.gid}}
}
