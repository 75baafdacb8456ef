package main

import (
	"authz-gateway/internal/testenv"
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// yamlDocs parses every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var docs []map[string]any
	dec := yaml.NewDecoder(f)
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if err == io.EOF {
			return docs
		}
		require.NoError(t, err, path)
		docs = append(docs, doc)
	}
}

// at walks a parsed YAML document by keys and list indexes.
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch key := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			require.True(t, ok, "%v: not a map at %q", path, key)
			v = m[key]
		case int:
			l, ok := v.([]any)
			require.True(t, ok && len(l) > key, "%v: no item %d", path, key)
			v = l[key]
		}
	}
	return v
}

// The Kubernetes manifests parse and hold what a deployment needs: the
// probes on the gateway's routes, resources, a disruption budget, the
// migration as an init container (a Job's template is immutable, and nothing
// orders a Deployment after a Job), the secret, a service, and a non-root user.
func TestDeploy_KubernetesManifests(t *testing.T) {
	byKind := map[string]map[string]any{}
	files, err := filepath.Glob("deploy/kubernetes/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		for _, doc := range yamlDocs(t, f) {
			byKind[doc["kind"].(string)] = doc
		}
	}
	for _, kind := range []string{"Secret", "Deployment", "PodDisruptionBudget", "Service"} {
		require.Contains(t, byKind, kind)
	}
	assert.NotContains(t, byKind, "Job", "a fixed-name Job fails on the next release's apply")
	pod := at(t, byKind["Deployment"], "spec", "template", "spec")
	gateway := at(t, pod, "containers", 0)
	assert.Equal(t, "/readyz", at(t, gateway, "readinessProbe", "httpGet", "path"))
	assert.Equal(t, "/healthz", at(t, gateway, "livenessProbe", "httpGet", "path"))
	assert.NotNil(t, at(t, gateway, "resources", "requests", "memory"))
	assert.NotNil(t, at(t, gateway, "resources", "limits", "memory"))
	assert.Equal(t, true, at(t, pod, "securityContext", "runAsNonRoot"))
	assert.Equal(t, "authz-gateway", at(t, gateway, "envFrom", 0, "secretRef", "name"))
	assert.Contains(t, at(t, gateway, "env"), map[string]any{"name": "MIGRATE_AT_START", "value": "false"})
	migrate := at(t, pod, "initContainers", 0)
	assert.Equal(t, []any{"migrate"}, at(t, migrate, "args"))
	assert.Equal(t, at(t, gateway, "image"), at(t, migrate, "image"), "the migration is the release's own")
	assert.Equal(t, "authz-gateway", at(t, migrate, "envFrom", 0, "secretRef", "name"))
	assert.Equal(t, 1, at(t, byKind["PodDisruptionBudget"], "spec", "minAvailable"))
	assert.Equal(t, at(t, byKind["Deployment"], "spec", "selector", "matchLabels"), at(t, byKind["Service"], "spec", "selector"))
	for _, key := range []string{"DATABASE_URL", "REDIS_URL", "JWT_SECRET"} {
		assert.NotNil(t, at(t, byKind["Secret"], "stringData", key), key)
	}
}

// compose.yaml runs PostgreSQL, Redis, the migration and two gateway
// replicas that start after it.
func TestDeploy_Compose(t *testing.T) {
	docs := yamlDocs(t, "compose.yaml")
	require.Len(t, docs, 1)
	services := at(t, docs[0], "services").(map[string]any)
	require.Contains(t, services, "postgres")
	require.Contains(t, services, "redis")
	assert.Equal(t, []any{"migrate"}, at(t, services["migrate"], "command"))
	var replicas int
	for name, s := range services {
		if strings.HasPrefix(name, "gateway") {
			replicas++
			assert.Equal(t, ".", at(t, s, "build"), name)
			assert.Equal(t, "service_completed_successfully", at(t, s, "depends_on", "migrate", "condition"), name)
			// /metrics off the API port (docs/security.md): on its own
			// address, not published.
			metrics := fmt.Sprint(at(t, s, "environment", "METRICS_ADDR"))
			assert.NotEmpty(t, metrics, name)
			for _, port := range at(t, s, "ports").([]any) {
				assert.NotContains(t, fmt.Sprint(port), strings.TrimPrefix(metrics, ":"), "%s publishes /metrics", name)
			}
		}
		if image, ok := s.(map[string]any)["image"]; ok {
			// podman resolves no short names (issue 36, finding 2).
			assert.Regexp(t, `^[a-z0-9.-]+\.[a-z]+/`, image, "%s: a fully qualified image", name)
		}
	}
	assert.Equal(t, 2, replicas)
	compose, err := os.ReadFile("compose.yaml")
	require.NoError(t, err)
	assert.Contains(t, string(compose), "token --email", "how to get the first admin token")
}

// The Dockerfile's release stage and deploy/release.Containerfile (the same
// stage over a binary built on the host) say the same.
func TestDeploy_ReleaseStagesAgree(t *testing.T) {
	instructions := func(path, after string) []string {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		text := string(b)
		if after != "" {
			_, text, _ = strings.Cut(text, after)
		}
		var out []string
		from := regexp.MustCompile(`--from=\S+ \S*/`)
		for _, line := range strings.Split(text, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "FROM") {
				continue
			}
			// COPY --from=build /out/x /x and COPY x /x are the same file.
			line = from.ReplaceAllString(line, "")
			line = strings.Replace(line, "COPY etc/ssl/certs/", "COPY ", 1)
			out = append(out, line)
		}
		return out
	}
	assert.Equal(t, instructions("Dockerfile", "FROM scratch AS release"), instructions("deploy/release.Containerfile", ""))
}

// Every base image is named fully (registry, path, tag) or is scratch:
// podman refuses a short name such as golang:1.26 where no unqualified
// search registry is configured (issue 36, finding 2).
func TestDeploy_BaseImagesAreFullyQualified(t *testing.T) {
	for _, path := range []string{"Dockerfile", "deploy/release.Containerfile"} {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Fields(line)
			if len(fields) < 2 || fields[0] != "FROM" || fields[1] == "scratch" {
				continue
			}
			registry, _, _ := strings.Cut(fields[1], "/")
			assert.True(t, strings.ContainsAny(registry, ".:"), "%s: %q names no registry", path, fields[1])
		}
	}
}

// The release image builds here from scratch (no registry) with the
// binary it holds, which serves: /healthz answers, and it stops cleanly.
// Running containers is not possible in this sandbox, so the binary is
// copied out of the image and run.
func TestDeploy_ImageBuildsAndItsBinaryServes(t *testing.T) {
	testenv.Slow(t, "an image build")
	engine, err := exec.LookPath("podman")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("podman is missing (make test installs it)")
		}
		t.Skip("podman is not installed")
	}
	out, err := exec.Command("scripts/image.sh", engine).CombinedOutput()
	require.NoError(t, err, "%s", out)
	created, err := exec.Command(engine, "create", "localhost/authz-gateway:latest").Output()
	require.NoError(t, err)
	id := strings.TrimSpace(string(created))
	defer func() { _ = exec.Command(engine, "rm", id).Run() }()
	bin := filepath.Join(t.TempDir(), "authz-gateway")
	require.NoError(t, exec.Command(engine, "cp", id+":/authz-gateway", bin).Run())
	user, err := exec.Command(engine, "inspect", "--format", "{{.Config.User}}", "localhost/authz-gateway:latest").Output()
	require.NoError(t, err)
	assert.Equal(t, "65534:65534", strings.TrimSpace(string(user)), "not root")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = []string{"DATA_DIR=" + t.TempDir(), "PORT=0", "GATEWAY_ENV=development"}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr testenv.SyncBuffer // written by the command while a failure reads it
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	url := ""
	for scan := bufio.NewScanner(stdout); scan.Scan(); {
		if m := regexp.MustCompile(`GraphQL:\s+(\S+)/graphql`).FindStringSubmatch(scan.Text()); m != nil {
			url = m[1]
			break
		}
	}
	require.NotEmpty(t, url, "the binary served: %s", stderr.String())
	resp, err := http.Get(url + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	assert.NoError(t, cmd.Wait(), "a graceful stop exits 0")
}
