package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Bridge is a Linux bridge the tests made for a Docker engine of their own: a name and a
// /24 that nothing else on the machine uses. dockerd with --bridge=none deletes docker0,
// so the tests never rely on it.
type Bridge struct {
	Name string
	// Gateway is the host's address on it, with the bridge's prefix.
	Gateway netip.Prefix
}

// bridgePrefix names the tests' bridges; the creating process's PID follows, so that a
// bridge left by a killed run is recognised and removed by the next one.
const bridgePrefix = "fvdrt"

// CreateBridge makes a bridge with a free /24 out of 10.213.0.0/16 and brings it up.
// It needs root and iproute2's `ip`.
func CreateBridge() (*Bridge, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("creating a network bridge needs root: run the tests as root (CI does)")
	}
	ipBin, err := lookPathOrSbin("ip")
	if err != nil {
		return nil, fmt.Errorf("iproute2's ip is not installed (`make test` installs it): %w", err)
	}
	removeStaleBridges(ipBin)
	name := bridgePrefix + strconv.Itoa(os.Getpid())
	if out, err := exec.Command(ipBin, "link", "add", name, "type", "bridge").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("creating bridge %s: %v: %s", name, err, out)
	}
	b := &Bridge{Name: name}
	used, err := usedPrefixes()
	if err != nil {
		b.Remove()
		return nil, err
	}
	start := os.Getpid() % 250
	for i := range 250 {
		gw := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, byte((start + i) % 250), 1}), 24)
		if overlapsAny(gw.Masked(), used) {
			continue
		}
		if err := exec.Command(ipBin, "addr", "add", gw.String(), "dev", name).Run(); err != nil {
			// Taken meanwhile by a concurrent run: try the next one.
			continue
		}
		if out, err := exec.Command(ipBin, "link", "set", name, "up").CombinedOutput(); err != nil {
			b.Remove()
			return nil, fmt.Errorf("bringing bridge %s up: %v: %s", name, err, out)
		}
		b.Gateway = gw
		return b, nil
	}
	b.Remove()
	return nil, errors.New("no free /24 in 10.213.0.0/16 for the test bridge")
}

// Remove deletes the bridge.
func (b *Bridge) Remove() {
	if ipBin, err := lookPathOrSbin("ip"); err == nil {
		_ = exec.Command(ipBin, "link", "del", b.Name).Run()
	}
}

// removeStaleBridges deletes the bridges of test processes that no longer run.
func removeStaleBridges(ipBin string) {
	links, _ := filepath.Glob("/sys/class/net/" + bridgePrefix + "*")
	for _, l := range links {
		name := filepath.Base(l)
		pid, err := strconv.Atoi(strings.TrimPrefix(name, bridgePrefix))
		if err != nil {
			continue
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			continue
		}
		_ = exec.Command(ipBin, "link", "del", name).Run()
	}
}

func usedPrefixes() ([]netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing the machine's addresses: %w", err)
	}
	var used []netip.Prefix
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
			used = append(used, p.Masked())
		}
	}
	return used, nil
}

func overlapsAny(p netip.Prefix, used []netip.Prefix) bool {
	for _, u := range used {
		if p.Overlaps(u) {
			return true
		}
	}
	return false
}

// lookPathOrSbin finds a program on PATH or in /usr/sbin, /sbin (root's tools are there
// and PATH may lack them).
func lookPathOrSbin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH, /usr/sbin or /sbin", name)
}
