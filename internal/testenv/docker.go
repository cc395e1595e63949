package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/crypto/bcrypt"
)

// Docker is a Docker engine of the tests' own: its data root, exec root and socket in a
// temporary folder and no iptables rules (what this machine's kernel and sandbox allow),
// so it never touches a system daemon. Its default network is none, or a bridge the
// tests made (StartDockerOnBridge).
type Docker struct {
	// Host is the DOCKER_HOST value that reaches it.
	Host    string
	Driver  string // the storage driver it runs with
	dir     string
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// StartDocker starts dockerd without a default bridge. See StartDockerOnBridge.
func StartDocker() (*Docker, error) { return StartDockerOnBridge("none") }

// StartDockerOnBridge starts dockerd with the overlay2 storage driver, or vfs where
// overlay2 cannot run, its default network on the named bridge ("none" for none), and
// waits until it answers. It never forwards or masquerades: containers reach only the
// host and each other. It fails, saying how to fix it, when dockerd is not installed or
// cannot run here.
func StartDockerOnBridge(bridge string) (*Docker, error) {
	bin, err := lookPathOrSbin("dockerd")
	if err != nil {
		return nil, fmt.Errorf("dockerd is not installed (`make test` installs Debian's docker.io; or apt-get install docker.io): %w", err)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("dockerd needs root: run the tests as root (CI does)")
	}
	var errs []error
	for _, driver := range []string{"overlay2", "vfs"} {
		d, err := startDocker(bin, driver, bridge)
		if err == nil {
			return d, nil
		}
		errs = append(errs, fmt.Errorf("with %s: %w", driver, err))
	}
	return nil, fmt.Errorf("starting dockerd: %w", errors.Join(errs...))
}

func startDocker(bin, driver, bridge string) (*Docker, error) {
	// Short: the containerd socket lives under it, and socket paths are limited to 108
	// bytes.
	dir, err := os.MkdirTemp("", "fvd-docker-")
	if err != nil {
		return nil, err
	}
	d := &Docker{Host: "unix://" + filepath.Join(dir, "docker.sock"), Driver: driver, dir: dir,
		exited: make(chan struct{}), logPath: filepath.Join(dir, "dockerd.log")}
	logFile, err := os.Create(d.logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// No system config (/etc/docker/daemon.json): only what the flags say.
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}"), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	d.cmd = exec.Command(bin,
		"--storage-driver="+driver, "--iptables=false", "--ip6tables=false", "--bridge="+bridge,
		"--ip-forward=false", "--ip-masq=false",
		"--data-root="+filepath.Join(dir, "root"), "--exec-root="+filepath.Join(dir, "exec"),
		"--pidfile="+filepath.Join(dir, "docker.pid"), "--host="+d.Host,
		"--config-file="+filepath.Join(dir, "daemon.json"),
	)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	setParentDeathSignal(d.cmd)
	if err := d.cmd.Start(); err != nil {
		logFile.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	logFile.Close()
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	sock := filepath.Join(dir, "docker.sock")
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}, Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			log := d.log()
			os.RemoveAll(dir)
			return nil, fmt.Errorf("dockerd exited: %s", log)
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := client.Get("http://docker/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, nil
			}
		}
	}
	log := d.log()
	d.Stop()
	return nil, fmt.Errorf("dockerd did not answer within 60s: %s", log)
}

// EngineAnswers reports whether a Docker engine answers at host (a DOCKER_HOST value).
func EngineAnswers(ctx context.Context, host string) bool {
	api, err := client.New(client.WithHost(host))
	if err != nil {
		return false
	}
	defer api.Close()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = api.Ping(ctx, client.PingOptions{})
	return err == nil
}

// log is the end of dockerd's log, for failure messages.
func (d *Docker) log() string {
	data, _ := os.ReadFile(d.logPath)
	s := strings.TrimSpace(string(data))
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

// Stop shuts dockerd down (it stops its containers and unmounts its layers first),
// killing it if it takes too long, and removes its folder.
func (d *Docker) Stop() {
	if d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(30 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	}
	_ = os.RemoveAll(d.dir)
}

// Registry is Debian's docker-registry (the distribution registry) on a free loopback
// port, with htpasswd basic auth: a real authenticated registry.
type Registry struct {
	// Host is 127.0.0.1:port.
	Host string
	dir  string
	cmd  *exec.Cmd
}

// ECRUser and ECRPassword are what the emulator's ecr:GetAuthorizationToken answers; a
// registry that holds them accepts fvdeploy's push as it would be made to ECR.
const (
	ECRUser     = "AWS"
	ECRPassword = "123456789012-auth-token"
)

// StartRegistry starts a registry that admits user with password.
func StartRegistry(user, password string) (*Registry, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry is not installed (`make test` installs Debian's docker-registry): %w", err)
	}
	dir, err := os.MkdirTemp("", "fvd-registry-")
	if err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &Registry{Host: "127.0.0.1:" + strconv.Itoa(port), dir: dir}
	config := fmt.Sprintf(`version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: %s}
  delete: {enabled: true}
http:
  addr: %s
auth:
  htpasswd: {realm: fvdeploy-test, path: %s}
`, filepath.Join(dir, "data"), r.Host, filepath.Join(dir, "htpasswd"))
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(config), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "registry.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	r.cmd = exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	setParentDeathSignal(r.cmd)
	if err := r.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting docker-registry: %w", err)
	}
	logFile.Close()
	exited := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(exited) }()
	// Up when it asks for credentials.
	if err := waitUntilAnswers("http://"+r.Host+"/v2/", http.StatusUnauthorized, exited, 30*time.Second); err != nil {
		data, _ := os.ReadFile(logPath)
		r.Stop()
		return nil, fmt.Errorf("docker-registry on %s: %w: %s", r.Host, err, data)
	}
	return r, nil
}

// Stop kills the registry and removes its storage.
func (r *Registry) Stop() {
	if r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
	}
	_ = os.RemoveAll(r.dir)
}
