package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
)

// Load reads file and returns its validated configuration. An error reading
// the file is returned wrapped (errors.Is(err, fs.ErrNotExist) works) and
// does not match ErrInvalid; every problem in the file itself is reported
// together in an ErrorList that does.
func Load(file string) (*Config, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	return LoadBytes(file, src)
}

// LoadBytes is Load for a file already in memory; file names it in error
// messages, locates relative paths and becomes Config.File. Shape errors
// (Parse) are reported without going on to Validate, whose messages would
// only repeat them.
func LoadBytes(file string, src []byte) (*Config, error) {
	raw, pos, perr, usable := parse(file, src, maxNodes)
	if !usable {
		return nil, perr
	}
	cfg, err := Validate(raw, pos)
	if perr != nil {
		// Unknown fields, plus whatever the known fields get wrong.
		all := append(ErrorList(nil), perr.(ErrorList)...)
		var verrs ErrorList
		if errors.As(err, &verrs) {
			all = append(all, verrs...)
		}
		sort.SliceStable(all, func(i, j int) bool {
			if all[i].Line != all[j].Line {
				return all[i].Line < all[j].Line
			}
			return all[i].Column < all[j].Column
		})
		return nil, all
	}
	if err != nil {
		return nil, err
	}
	cfg.Hash = contentHash(src, cfg)
	return cfg, nil
}

// contentHash names a configuration by everything it is made of: the file
// and every file the validator read (redirect maps, key sets, secrets,
// certificates), so editing only one of those is a change too (a reload of
// the same hash is skipped). The map entries are hashed as well as the map
// file, because the map is what the routes use.
func contentHash(src []byte, cfg *Config) string {
	h := sha256.New()
	h.Write(src)
	for _, in := range cfg.inputs {
		fmt.Fprintf(h, "\x00file %s\x00", in.path)
		h.Write(in.sum[:])
	}
	for _, r := range cfg.Routes {
		if r.Redirect == nil || r.Redirect.MapFile == "" {
			continue
		}
		keys := make([]string, 0, len(r.Redirect.Map))
		for k := range r.Redirect.Map {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(h, "\x00map %s\x00", r.Redirect.MapFile)
		for _, k := range keys {
			fmt.Fprintf(h, "%s\x00%s\x00", k, r.Redirect.Map[k])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
