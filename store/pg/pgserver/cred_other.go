//go:build !unix

package pgserver

import "os/exec"

type credential struct{ uid, gid uint32 }

func setCredential(*exec.Cmd, *credential) {}
