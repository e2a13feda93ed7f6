package deploy

import (
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

type instruction struct{ cmd, args string }

// dockerfile returns the instructions of deploy/Dockerfile (continuations joined, comments and
// the parser directive dropped).
func dockerfile(t *testing.T) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(readFile(t, "Dockerfile"), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		if s := strings.TrimSpace(cur.String()); s != "" {
			cmd, args, _ := strings.Cut(s, " ")
			out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		}
		cur.Reset()
	}
	return out
}

// shellFields splits a shell command line on blanks, honouring single and double quotes.
func shellFields(s string) []string {
	var out []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

type dockerBuild struct {
	env  []string // VAR=value before `go build`
	args []string // arguments after `go build`, without -o
	pkg  string
}

func TestDockerfile(t *testing.T) {
	ins := dockerfile(t)
	vars := configEnvVars(t)
	args := map[string]string{}
	var froms []string
	var final []instruction // instructions of the last stage
	for _, in := range ins {
		switch in.cmd {
		case "ARG":
			if k, v, ok := strings.Cut(in.args, "="); ok && len(froms) == 0 {
				args[k] = v
			}
		case "FROM":
			img := strings.Fields(in.args)[0]
			img = os.Expand(img, func(k string) string { return args[k] })
			froms = append(froms, img)
			final = nil
		default:
			final = append(final, in)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got FROM %v", froms)
	}
	goMod := readFile(t, filepath.Join(root, "go.mod"))
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(goMod)
	if goVer == nil || froms[0] != "golang:"+goVer[1] {
		t.Errorf("builder image %s, want golang:%s (go.mod: %v)", froms[0], goVer[1], goVer)
	}
	last := froms[len(froms)-1]
	if !strings.Contains(last, "distroless/static") && last != "scratch" {
		t.Errorf("runtime image %s: want distroless/static or scratch", last)
	}
	var user, expose, entrypoint, cmd, binPath string
	env := map[string]string{}
	for _, in := range final {
		switch in.cmd {
		case "USER":
			user = in.args
		case "EXPOSE":
			expose = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "CMD":
			cmd = in.args
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) == 3 && strings.HasPrefix(f[0], "--from=") {
				binPath = f[2]
			}
		case "ENV":
			for _, kv := range shellFields(in.args) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Errorf("ENV %q: use the KEY=value form", in.args)
				}
				env[k] = v
			}
		}
	}
	if user != "65532:65532" && user != "65532" {
		t.Errorf("USER %q, want 65532 (non-root, numeric)", user)
	}
	var ep, cm []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || len(ep) != 1 || ep[0] != "/mrhub" || ep[0] != binPath {
		t.Errorf("ENTRYPOINT %s, want [\"/mrhub\"], the binary copied from the builder (%s)", entrypoint, binPath)
	}
	if err := json.Unmarshal([]byte(cmd), &cm); err != nil || len(cm) != 1 || cm[0] != "serve" {
		t.Errorf("CMD %s, want [\"serve\"]", cmd)
	}
	if expose != "8080" {
		t.Errorf("EXPOSE %q, want 8080", expose)
	}
	for k, v := range env {
		if !vars[k] {
			t.Errorf("ENV %s is not an environment variable of pkg/config", k)
		}
		if k == "MRHUB_HTTP_ADDR" {
			if _, port, _ := net.SplitHostPort(v); port != expose {
				t.Errorf("ENV MRHUB_HTTP_ADDR=%s does not listen on the exposed port %s", v, expose)
			}
		}
	}
	if err := validateConfig(t, vars, env); err != nil {
		t.Errorf("the image's ENV fails config.Validate: %v", err)
	}

	b := goBuildLine(t, ins)
	if !contains(b.env, "CGO_ENABLED=0") || !contains(b.args, "-trimpath") {
		t.Errorf("go build env %v args %v: want CGO_ENABLED=0 and -trimpath", b.env, b.args)
	}
	if ld := flagValue(b.args, "-ldflags"); !contains(strings.Fields(ld), "-s") || !contains(strings.Fields(ld), "-w") {
		t.Errorf(`go build -ldflags %q, want "-s -w"`, ld)
	}
	if b.pkg != "./cmd/mrhub" {
		t.Errorf("go build builds %q, want ./cmd/mrhub", b.pkg)
	}
}

// goBuildLine extracts the `go build` of the Dockerfile's RUN instructions.
func goBuildLine(t *testing.T, ins []instruction) dockerBuild {
	t.Helper()
	for _, in := range ins {
		if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
			continue
		}
		var seg string
		for _, s := range regexp.MustCompile(`&&|;`).Split(in.args, -1) {
			if strings.Contains(s, "go build") {
				seg = s
			}
		}
		f := shellFields(seg)
		var b dockerBuild
		i := 0
		for ; i < len(f); i++ {
			if strings.HasPrefix(f[i], "--mount=") {
				continue
			}
			if f[i] == "go" {
				break
			}
			if !strings.Contains(f[i], "=") {
				t.Fatalf("go build line %q: unexpected %q before `go`", seg, f[i])
			}
			b.env = append(b.env, f[i])
		}
		if i+1 >= len(f) || f[i+1] != "build" {
			t.Fatalf("go build line %q not understood", seg)
		}
		rest := f[i+2:]
		for j := 0; j < len(rest); j++ {
			switch {
			case rest[j] == "-o":
				j++
			case strings.HasPrefix(rest[j], "-"):
				b.args = append(b.args, rest[j])
				if (rest[j] == "-ldflags" || rest[j] == "-tags" || rest[j] == "-gcflags") && j+1 < len(rest) {
					b.args = append(b.args, rest[j+1])
					j++
				}
			default:
				b.pkg = rest[j]
			}
		}
		return b
	}
	t.Fatal("the Dockerfile has no RUN ... go build")
	return dockerBuild{}
}

// TestDockerBuildContextBuildsStaticBinary copies the repository as Docker would send it (minus
// Dockerfile.dockerignore), runs the Dockerfile's `go build` line there, and checks the binary:
// statically linked (no ELF interpreter, no shared libraries), stripped, built with the
// Dockerfile's settings, and able to start (usage, configuration errors).
func TestDockerBuildContextBuildsStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	b := goBuildLine(t, dockerfile(t))
	ignore := dockerignore(t, "Dockerfile.dockerignore")
	for _, must := range []string{".git", "bin", "data", "pkg/dashboard/e2e/node_modules"} {
		if !ignore.excluded(must) {
			t.Errorf("Dockerfile.dockerignore does not exclude %s", must)
		}
	}
	ctx := t.TempDir()
	var files int
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if ignore.excluded(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		dst := filepath.Join(ctx, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		files++
		return copyFile(p, dst)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("build context: %d files", files)

	bin := filepath.Join(t.TempDir(), "mrhub")
	buildArgs := append([]string{"build"}, b.args...)
	buildArgs = append(buildArgs, "-o", bin, b.pkg)
	cmd := exec.Command("go", buildArgs...)
	cmd.Dir = ctx
	cmd.Env = append(os.Environ(), b.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v %v in the build context: %v\n%s", b.env, cmd.Args, err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter (PT_INTERP): it is dynamically linked")
		}
		if p.Type == elf.PT_DYNAMIC {
			t.Error("the binary has a PT_DYNAMIC segment")
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	if _, err := f.Symbols(); !errors.Is(err, elf.ErrNoSymbols) {
		t.Errorf("the binary keeps its symbol table (-ldflags -s): %v", err)
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	// (With -trimpath the go command does not record -ldflags: -s and -w are checked above and
	// below on the ELF itself.)
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings %v: want CGO_ENABLED=0 and -trimpath=true", settings)
	}
	for _, s := range f.Sections {
		if strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			t.Errorf("the binary keeps DWARF section %s (-ldflags -w)", s.Name)
		}
	}
	if tags := flagValue(b.args, "-tags"); tags != "" && settings["-tags"] != tags {
		t.Errorf("build tags %q, the Dockerfile asks %q", settings["-tags"], tags)
	}
	if st, err := os.Stat(bin); err == nil {
		t.Logf("static binary: %.1f MB, %s, settings %v", float64(st.Size())/(1<<20), info.GoVersion, settings)
	}

	// It starts: usage without a command, a configuration error with a bad setting.
	out, err := exec.Command(bin).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "serve") {
		t.Errorf("mrhub without a command: %v\n%s", err, out)
	}
	c := exec.Command(bin, "serve")
	c.Env = []string{"MRHUB_LOG_LEVEL=loud"}
	out, err = c.CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "invalid configuration") {
		t.Errorf("mrhub serve with MRHUB_LOG_LEVEL=loud: %v\n%s", err, out)
	}
}

type ignoreRules []string

// dockerignore reads the patterns of a .dockerignore file. Only the forms used here are
// supported (plain paths, globs, leading **/); an exception (!) fails the test.
func dockerignore(t *testing.T, file string) ignoreRules {
	t.Helper()
	var r ignoreRules
	for _, line := range strings.Split(readFile(t, file), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") || strings.Contains(strings.TrimPrefix(line, "**/"), "**") {
			t.Fatalf("%s: pattern %q is not understood by this test", file, line)
		}
		r = append(r, strings.TrimPrefix(path.Clean(line), "/"))
	}
	return r
}

// excluded reports whether rel (slash-separated, relative to the context) or one of its parent
// directories matches a pattern.
func (r ignoreRules) excluded(rel string) bool {
	parts := strings.Split(rel, "/")
	for _, p := range r {
		anyDepth := strings.HasPrefix(p, "**/")
		p = strings.TrimPrefix(p, "**/")
		n := len(strings.Split(p, "/"))
		for end := 1; end <= len(parts); end++ { // each ancestor parts[:end]
			starts := []int{0}
			if anyDepth {
				starts = nil
				for s := 0; s+n <= end; s++ {
					starts = append(starts, s)
				}
			}
			for _, s := range starts {
				if end-s != n {
					continue
				}
				if ok, _ := path.Match(p, strings.Join(parts[s:end], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
