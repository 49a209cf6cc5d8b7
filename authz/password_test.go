package authz

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

// fastArgon2Params keep tests quick; one test uses the defaults.
var fastArgon2Params = Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestPasswordRoundTrip(t *testing.T) {
	h := NewPasswordHasher(fastArgon2Params)
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("encoding %q", enc)
	}
	if strings.Contains(enc, "correct horse") {
		t.Fatal("password in hash")
	}
	ok, err := h.Verify(enc, "correct horse battery staple")
	if err != nil || !ok {
		t.Errorf("Verify(right) = %v, %v", ok, err)
	}
	ok, err = h.Verify(enc, "correct horse battery stapler")
	if err != nil || ok {
		t.Errorf("Verify(wrong) = %v, %v", ok, err)
	}
	ok, err = h.Verify(enc, "")
	if err != nil || ok {
		t.Errorf("Verify(empty) = %v, %v", ok, err)
	}
	enc2, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if enc2 == enc {
		t.Error("two hashes of one password are equal: salt not random")
	}
	if _, err := h.Hash(""); err == nil {
		t.Error("Hash(\"\") succeeded")
	}
}

func TestPasswordDefaultParams(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB argon2id")
	}
	h := NewPasswordHasher(DefaultArgon2Params())
	enc, err := h.Hash("pässwörd ✓")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(enc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" || parts[3] != "m=65536,t=3,p=4" {
		t.Fatalf("encoding %q", enc)
	}
	if len(parts[4]) != 22 || len(parts[5]) != 43 { // 16 and 32 bytes, unpadded
		t.Errorf("salt/hash lengths %d/%d", len(parts[4]), len(parts[5]))
	}
	if ok, err := h.Verify(enc, "pässwörd ✓"); !ok || err != nil {
		t.Errorf("Verify = %v, %v", ok, err)
	}
	if ok, err := h.Verify(enc, "password"); ok || err != nil {
		t.Errorf("Verify(wrong) = %v, %v", ok, err)
	}
	h.Dummy("anything") // must not panic
}

func TestPasswordOldParamsKeepVerifying(t *testing.T) {
	old := NewPasswordHasher(Argon2Params{Time: 2, MemoryKiB: 32, Threads: 2, SaltLen: 8, KeyLen: 16})
	enc, err := old.Hash("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	cur := NewPasswordHasher(fastArgon2Params)
	if ok, err := cur.Verify(enc, "s3cret"); !ok || err != nil {
		t.Errorf("Verify with changed params = %v, %v", ok, err)
	}
}

// TestPasswordKnownVector pins the encoding of argon2id("password", salt
// "somesaltsomesalt", m=64, t=1, p=1) so that a change of format (or of
// parameters read back) breaks the test.
func TestPasswordKnownVector(t *testing.T) {
	h := NewPasswordHasher(fastArgon2Params)
	enc, err := h.hashWithSalt("password", []byte("somesaltsomesalt"))
	if err != nil {
		t.Fatal(err)
	}
	ok, err := h.Verify(enc, "password")
	if !ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
	const want = "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$55PWTvddWPUD1GMbKxSff4ASfF85k9ibHJt4HlHQtBM"
	if enc != want {
		t.Errorf("encoding\n got %s\nwant %s", enc, want)
	}
	if ok, err := h.Verify(want, "Password"); ok || err != nil {
		t.Errorf("Verify(wrong case) = %v, %v", ok, err)
	}
}

func TestPasswordMalformed(t *testing.T) {
	h := NewPasswordHasher(fastArgon2Params)
	good, err := h.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, sum := parts[4], parts[5]
	with := func(variant, version, params, s, k string) string {
		return strings.Join([]string{"", variant, version, params, s, k}, "$")
	}
	cases := map[string]string{
		"empty":            "",
		"garbage":          "not a hash",
		"bcrypt":           "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
		"argon2i":          with("argon2i", "v=19", "m=64,t=1,p=1", salt, sum),
		"argon2d":          with("argon2d", "v=19", "m=64,t=1,p=1", salt, sum),
		"old version":      with("argon2id", "v=16", "m=64,t=1,p=1", salt, sum),
		"no version":       "$argon2id$m=64,t=1,p=1$" + salt + "$" + sum,
		"missing hash":     "$argon2id$v=19$m=64,t=1,p=1$" + salt,
		"missing fields":   "$argon2id$v=19$",
		"extra field":      good + "$x",
		"no leading $":     strings.TrimPrefix(good, "$"),
		"params order":     with("argon2id", "v=19", "t=1,m=64,p=1", salt, sum),
		"params missing":   with("argon2id", "v=19", "m=64,t=1", salt, sum),
		"params extra":     with("argon2id", "v=19", "m=64,t=1,p=1,k=1", salt, sum),
		"param empty":      with("argon2id", "v=19", "m=,t=1,p=1", salt, sum),
		"param negative":   with("argon2id", "v=19", "m=-64,t=1,p=1", salt, sum),
		"param plus":       with("argon2id", "v=19", "m=+64,t=1,p=1", salt, sum),
		"param leading 0":  with("argon2id", "v=19", "m=064,t=1,p=1", salt, sum),
		"param overflow":   with("argon2id", "v=19", "m=99999999999,t=1,p=1", salt, sum),
		"param hex":        with("argon2id", "v=19", "m=0x40,t=1,p=1", salt, sum),
		"huge m":           with("argon2id", "v=19", "m=4194304,t=1,p=1", salt, sum),
		"m over 1 GiB":     with("argon2id", "v=19", "m=1048577,t=1,p=1", salt, sum),
		"huge t":           with("argon2id", "v=19", "m=64,t=21,p=1", salt, sum),
		"zero t":           with("argon2id", "v=19", "m=64,t=0,p=1", salt, sum),
		"zero p":           with("argon2id", "v=19", "m=64,t=1,p=0", salt, sum),
		"p over 255":       with("argon2id", "v=19", "m=4096,t=1,p=256", salt, sum),
		"m below 8p":       with("argon2id", "v=19", "m=8,t=1,p=4", salt, sum),
		"zero m":           with("argon2id", "v=19", "m=0,t=1,p=1", salt, sum),
		"bad salt b64":     with("argon2id", "v=19", "m=64,t=1,p=1", "!!!!", sum),
		"padded salt":      with("argon2id", "v=19", "m=64,t=1,p=1", salt+"==", sum),
		"url-safe hash":    with("argon2id", "v=19", "m=64,t=1,p=1", salt, strings.NewReplacer("+", "-", "/", "_").Replace(sum)+"-_"),
		"bad hash b64":     with("argon2id", "v=19", "m=64,t=1,p=1", salt, "***"),
		"empty salt":       with("argon2id", "v=19", "m=64,t=1,p=1", "", sum),
		"short salt":       with("argon2id", "v=19", "m=64,t=1,p=1", "c2FsdA", sum),
		"empty hash":       with("argon2id", "v=19", "m=64,t=1,p=1", salt, ""),
		"short hash":       with("argon2id", "v=19", "m=64,t=1,p=1", salt, "YWJj"),
		"too long":         good + strings.Repeat("A", 1000),
		"spaces":           " " + good,
		"uppercase scheme": with("ARGON2ID", "v=19", "m=64,t=1,p=1", salt, sum),
	}
	for name, enc := range cases {
		t.Run(name, func(t *testing.T) {
			ok, err := h.Verify(enc, "pw")
			if err == nil || ok {
				t.Errorf("Verify(%q) = %v, %v; want an error", enc, ok, err)
			}
			if strings.Contains(err.Error(), "pw") && !strings.Contains(enc, "pw") {
				t.Errorf("error mentions the password: %v", err)
			}
		})
	}
	if _, err := h.Verify(with("argon2id", "v=19", "m=4194304,t=1,p=1", salt, sum), "pw"); !errors.Is(err, errPasswordHashParams) {
		t.Errorf("huge m: %v, want errPasswordHashParams", err)
	}
}

func TestPasswordBadConfiguredParams(t *testing.T) {
	h := NewPasswordHasher(Argon2Params{Time: 100, MemoryKiB: 64, Threads: 1, SaltLen: 16, KeyLen: 32})
	if _, err := h.Hash("pw"); err == nil {
		t.Error("Hash with t=100 succeeded")
	}
	h.Dummy("pw") // must not panic or hang
	if got := NewPasswordHasher(Argon2Params{}).Params(); got != DefaultArgon2Params() {
		t.Errorf("zero params became %+v", got)
	}
}

func TestPasswordDummyAndConcurrency(t *testing.T) {
	h := NewPasswordHasher(fastArgon2Params)
	enc, err := h.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			if i%2 == 0 {
				h.Dummy("pw")
				return
			}
			if ok, err := h.Verify(enc, "pw"); !ok || err != nil {
				t.Errorf("Verify = %v, %v", ok, err)
			}
		})
	}
	wg.Wait()
	if len(h.sem) != 0 {
		t.Errorf("%d semaphore slots still held", len(h.sem))
	}
}

func FuzzVerifyPassword(f *testing.F) {
	h := NewPasswordHasher(fastArgon2Params)
	good, err := h.Hash("pw")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		good, "", "$", "$$$$$", "$argon2id$v=19$m=64,t=1,p=1$$",
		"$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHQ$aGFzaA",
		"$argon2id$v=19$m=4294967295,t=4294967295,p=255$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, enc string) {
		p, salt, sum, err := parseArgon2id(enc)
		if err != nil {
			return
		}
		// Whatever parses must be within the limits Verify relies on.
		if p.validate() != nil || uint32(len(salt)) != p.SaltLen || uint32(len(sum)) != p.KeyLen {
			t.Fatalf("parsed out-of-range params %+v from %q", p, enc)
		}
		// Verify only cheap parameter sets; the parser is what is fuzzed.
		if p.MemoryKiB <= 1024 && p.Time <= 2 {
			if _, err := h.Verify(enc, "pw"); err != nil {
				t.Fatalf("Verify(%q) failed after a successful parse: %v", enc, err)
			}
		}
	})
}
