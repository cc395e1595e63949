package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/moby/moby/client"
)

// pythonBasePackages make a base image the service runs on without pip or a network:
// Debian's python3 with the app's dependencies, and `python` as the Dockerfile and the
// health check call it.
var pythonBasePackages = []string{
	"python3", "python3-fastapi", "python3-uvicorn", "uvicorn", "python3-uvloop", "python3-httptools", "python-is-python3",
}

const debianSuite = "bookworm"

// PythonBaseImage imports into the engine at dockerHost an offline Debian base image with
// Python and the service's dependencies, and returns its reference. No base image can be
// pulled here, so it is made with debootstrap (about a minute or two) and kept, as a
// tarball keyed by what goes into it, in /var/cache/fvdeploy-test (FVDEPLOY_TEST_CACHE
// overrides), so later runs on the same machine only import it.
func PythonBaseImage(ctx context.Context, dockerHost string) (string, error) {
	mirror, cache, key, tarball := pythonBase()
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	if err := withFileLock(filepath.Join(cache, ".lock"), func() error {
		if _, err := os.Stat(tarball); err == nil {
			return nil
		}
		return debootstrap(ctx, cache, mirror, tarball)
	}); err != nil {
		return "", err
	}
	ref := "fvdeploy-test/python-base:" + key
	api, err := client.New(client.WithHost(dockerHost))
	if err != nil {
		return "", err
	}
	defer api.Close()
	f, err := os.Open(tarball)
	if err != nil {
		return "", err
	}
	defer f.Close()
	res, err := api.ImageImport(ctx, client.ImageImportSource{Source: f, SourceName: "-"}, ref, client.ImageImportOptions{})
	if err != nil {
		return "", fmt.Errorf("importing %s: %w", tarball, err)
	}
	defer res.Close()
	out, err := io.ReadAll(res)
	if err != nil || strings.Contains(string(out), `"error`) {
		return "", fmt.Errorf("importing %s: %v %s", tarball, err, out)
	}
	return ref, nil
}

// PythonBaseCached reports whether the base image is cached, so that PythonBaseImage
// only imports it.
func PythonBaseCached() bool {
	_, _, _, tarball := pythonBase()
	_, err := os.Stat(tarball)
	return err == nil
}

// pythonBase says where the base image comes from and where its tarball is cached; key
// names what goes into it.
func pythonBase() (mirror, cache, key, tarball string) {
	mirror = os.Getenv("FVDEPLOY_DEBIAN_MIRROR")
	if mirror == "" {
		mirror = "http://deb.debian.org/debian"
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{"v1", debianSuite, "minbase", mirror, strings.Join(pythonBasePackages, ",")}, "\n")))
	key = hex.EncodeToString(sum[:])[:12]
	cache = os.Getenv("FVDEPLOY_TEST_CACHE")
	if cache == "" {
		cache = "/var/cache/fvdeploy-test"
	}
	return mirror, cache, key, filepath.Join(cache, "python-base-"+key+".tar")
}

func debootstrap(ctx context.Context, cache, mirror, tarball string) error {
	bin, err := lookPathOrSbin("debootstrap")
	if err != nil {
		return fmt.Errorf("debootstrap is not installed (`make test` installs it; or apt-get install debootstrap): %w", err)
	}
	work, err := os.MkdirTemp(cache, "build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	root := filepath.Join(work, "root")
	cmd := exec.CommandContext(ctx, bin, "--variant=minbase", "--include="+strings.Join(pythonBasePackages, ","), debianSuite, root, mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("debootstrap: %v\n%s", err, tail(out))
	}
	// Package lists and caches only make the image bigger.
	for _, junk := range []string{"var/cache/apt/archives", "var/lib/apt/lists"} {
		_ = os.RemoveAll(filepath.Join(root, junk))
	}
	partial := filepath.Join(work, "base.tar")
	cmd = exec.CommandContext(ctx, "tar", "--numeric-owner", "-C", root, "-cf", partial, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("packing the base image: %v\n%s", err, tail(out))
	}
	return os.Rename(partial, tarball)
}

func tail(out []byte) string {
	s := strings.TrimSpace(string(out))
	if len(s) > 3000 {
		s = "..." + s[len(s)-3000:]
	}
	return s
}

// withFileLock runs fn holding an exclusive lock on path, so that two test processes do
// not make the same cache entry at once.
func withFileLock(path string, fn func() error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }()
	return fn()
}
