package main

import "fmt"

// notImplemented is what a command this build cannot carry out returns: a plain failure
// (exit 1), never a pretended success.
func notImplemented(command string) error {
	return fmt.Errorf("%s is not implemented in this version of fvdeploy", command)
}
